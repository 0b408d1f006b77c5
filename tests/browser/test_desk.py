"""desk.html in chromium, as a receptionist uses it, against today's API (local sign-in, auth on)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.support import (
    SIZES,
    Clinic,
    document_fits_the_viewport,
    expect_no_serious_axe_violation,
    open_slot,
    patient,
    screenshot,
    sign_in,
    slot_day,
)

pytestmark = pytest.mark.xdist_group("browser")


def book_with_the_form(page: Page, patient_id: str, source: str) -> None:
    page.fill("#book-patient", patient_id)
    page.select_option("#book-source", source)
    page.click("#book")


def answer_the_confirmation(page: Page, says: str | re.Pattern[str], yes: bool, key: str = "") -> None:
    """The confirmation dialog is open, its "No" focused, says `says`; then Yes, No, or a key (Escape)."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-no")).to_be_focused()  # the safe answer is the default
    expect(page.locator("#confirm-text")).to_have_text(says)
    if key:
        page.keyboard.press(key)
    else:
        page.click("#confirm-yes" if yes else "#confirm-no")
    expect(dialog).to_be_hidden()


def row_of(page: Page, patient_id: str) -> str:
    """The queue row's booking id, once the patient is in the queue."""
    row = page.locator("#queue-body tr[data-booking-row]").filter(
        has=page.locator("td.patient", has_text=re.compile(f"^{re.escape(patient_id)}$"))
    )
    expect(row).to_have_count(1)
    booking_id = row.get_attribute("data-booking-row")
    assert booking_id
    return booking_id


def test_the_desk_books_a_walk_in_and_an_emergency_checks_both_in_and_the_emergency_is_first(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slot = clinic.new_slot("dr-rao")
    sign_in(page)
    open_slot(page, slot)
    expect(page.locator("#slot-summary")).to_contain_text("0 booked")

    walk_in, emergency = patient("walkin"), patient("trauma")
    book_with_the_form(page, walk_in, "WALKIN")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Token 1 booked for {walk_in} \(STANDARD\) in "))
    expect(page.locator("#book-patient")).to_have_value("")  # emptied for the next patient
    book_with_the_form(page, emergency, "EMERGENCY")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Token 2 booked for {emergency} \(CRITICAL\) in "))
    expect(page.locator("#book-source")).to_have_value("WALKIN")  # the next patient's source is asked afresh
    expect(page.locator("#messages")).to_be_empty()

    walk_in_id, emergency_id = row_of(page, walk_in), row_of(page, emergency)
    for booking_id, token in ((walk_in_id, 1), (emergency_id, 2)):
        button = page.locator(f'#queue-body button[data-action="check-in"][data-booking-id="{booking_id}"]')
        expect(button).to_have_accessible_name(f"Check in token {token}")
        button.click()
        expect(page.locator("#status")).to_have_text(f"Token {token} checked in")
        expect(page.locator(f'#queue-body tr[data-booking-row="{booking_id}"]')).to_have_attribute(
            "data-status", "CHECKED_IN"
        )

    rows = page.locator("#queue-body tr[data-booking-row]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-booking-row", emergency_id)  # CRITICAL first, whatever the token
    expect(rows.nth(0)).to_have_attribute("data-token", "2")
    expect(rows.nth(1)).to_have_attribute("data-token", "1")
    expect(page.locator("#slot-summary")).to_contain_text("2 booked")
    expect(page.locator("#messages")).to_be_empty()
    screenshot(page, tmp_path_factory, "desk-queue")


def test_a_full_slot_is_said_in_words(page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> None:
    slot = clinic.new_slot("dr-rao", baseCapacity=1, premiumBuffer=0, emergencyBuffer=0)
    clinic.book(slot["slotId"], patient("first"))
    sign_in(page)
    open_slot(page, slot)

    book_with_the_form(page, patient("second"), "WALKIN")
    expect(page.locator("#messages")).to_have_text(
        "Booking failed: Slot full for standard patients: 1 of 1 places taken"
    )
    expect(page.locator("#status")).to_be_empty()
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(1)  # nobody more booked
    page.locator("#log-box summary").click()
    expect(page.locator("#log li").first).to_contain_text("Slot full for standard patients: 1 of 1 places taken")
    screenshot(page, tmp_path_factory, "desk-slot-full")


def test_a_full_slot_waitlists_and_a_cancel_promotes_the_waitlisted_into_the_queue(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slot = clinic.new_slot("dr-rao", baseCapacity=1, premiumBuffer=0, emergencyBuffer=0)
    holder = clinic.book(slot["slotId"], patient("first"))
    sign_in(page)
    open_slot(page, slot)
    waitlist_rows = page.locator("#waitlist-body tr[data-booking-row]")
    expect(page.locator("#waitlist-body")).to_have_text("No one waitlisted")

    waiting = patient("waits")
    page.check("#book-waitlist")
    book_with_the_form(page, waiting, "WALKIN")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^{waiting} waitlisted for .+ at position 1$"))
    expect(page.locator("#book-waitlist")).not_to_be_checked()  # the next booking asks again
    expect(waitlist_rows).to_have_count(1)
    expect(waitlist_rows.first).to_have_attribute("data-status", "WAITLISTED")
    expect(waitlist_rows.first).to_have_attribute("data-waitlist-position", "1")
    expect(waitlist_rows.first.locator("td.patient")).to_have_text(waiting)
    expect(page.locator("#slot-summary")).to_contain_text("1 waitlisted")
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(1)  # the holder only
    screenshot(page, tmp_path_factory, "desk-waitlist")

    cancel = page.locator(f'#queue-body button[data-action="cancel"][data-booking-id="{holder["bookingId"]}"]')
    expect(cancel).to_have_accessible_name("Cancel token 1")
    says = (
        f"Token 1 ({holder['patientId']}) will be cancelled. Their place is given back and goes to the first "
        "waitlisted patient it fits (1 patient waiting). No SMS is sent for a cancel by the desk. "
        "This cannot be undone."
    )
    cancel.click()
    expect_no_serious_axe_violation(page, "the desk asking before a cancel")
    answer_the_confirmation(page, says, yes=False, key="Escape")  # dismissed: nothing changes
    expect(page.locator("#status")).to_have_text("Nothing changed: token 1 kept")
    expect(cancel).to_be_focused()  # back where the receptionist was
    expect(page.locator(f'#queue-body tr[data-booking-row="{holder["bookingId"]}"]')).to_have_attribute(
        "data-status", "BOOKED"
    )
    expect(waitlist_rows).to_have_count(1)

    cancel.click()
    answer_the_confirmation(page, says, yes=True)
    expect(page.locator("#status")).to_have_text(f"Token 1 cancelled. {waiting} moved up from the waitlist as token 2")
    promoted = page.locator(f'#queue-body tr[data-booking-row="{row_of(page, waiting)}"]')
    expect(promoted).to_have_attribute("data-token", "2")  # the next token, given with the place
    expect(promoted).to_have_attribute("data-status", "BOOKED")
    expect(waitlist_rows).to_have_count(0)
    expect(page.locator("#waitlist-body")).to_have_text("No one waitlisted")
    expect(page.locator("#slot-summary")).to_contain_text("0 waitlisted")
    expect(page.locator("#messages")).to_be_empty()
    finished = page.locator(f'#finished-body tr[data-finished-row="{holder["bookingId"]}"]')
    expect(finished).to_have_attribute("data-status", "CANCELLED")
    expect(finished).to_contain_text("Cancelled (by the desk)")
    screenshot(page, tmp_path_factory, "desk-waitlist-promoted")


def test_a_bad_patient_id_is_named_with_its_field_before_anything_is_sent(page: Page, clinic: Clinic) -> None:
    slot = clinic.new_slot("dr-rao")
    sign_in(page)
    open_slot(page, slot)
    bookings: list[Request] = []
    page.on("request", lambda request: bookings.append(request) if request.url.endswith("/bookings") else None)

    book_with_the_form(page, "a b", "WALKIN")
    messages = page.locator("#messages")
    expect(messages).to_contain_text("Please correct the form")
    expect(messages.locator('li[data-field="Patient id"]')).to_have_text(
        "Patient id: letters, digits and . _ : - only, at most 64"
    )
    expect(page.locator("#book-patient")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#book-patient")).to_be_focused()
    assert bookings == []


def test_the_services_validation_error_is_shown_with_its_field(page: Page, clinic: Clinic) -> None:
    """Should the browser's own check ever pass what the service refuses, the service's words name the field."""
    slot = clinic.new_slot("dr-rao")
    sign_in(page)
    open_slot(page, slot)
    page.locator("#book-patient").evaluate("input => input.removeAttribute('pattern')")

    book_with_the_form(page, "a b", "WALKIN")
    messages = page.locator("#messages")
    expect(messages).to_contain_text("Booking failed: ")
    expect(messages.locator('li[data-field="patientId"]')).to_have_text(re.compile(r"^patientId: .+"))
    expect(page.locator("#book-patient")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#book-patient")).to_be_focused()
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(0)


def test_signing_in_and_booking_work_with_the_keyboard_alone(page: Page, clinic: Clinic) -> None:
    slot = clinic.new_slot("dr-rao")
    page.goto(f"/desk.html?date={slot_day(slot)}")
    keys = page.keyboard

    def focused() -> str:
        return str(page.evaluate("document.activeElement && document.activeElement.id"))

    expect(page.locator("#signin-user")).to_be_focused()  # where the page puts the cursor
    expect_no_serious_axe_violation(page, "the desk's sign-in")
    keys.type("desk-keys")
    keys.press("Enter")
    expect(page.locator("#whoami")).to_have_text("desk-keys (reception)")
    expect(page.locator("#doctor")).to_be_focused()
    keys.type(slot["doctorId"])
    keys.press("Enter")
    select = page.locator(f'tr[data-slot-id="{slot["slotId"]}"] button[data-action=select]')
    expect(select).to_be_visible()
    for _ in range(40):  # Tab along until the slot's Select button
        if select.evaluate("button => button === document.activeElement"):
            break
        keys.press("Tab")
    expect(select).to_be_focused()
    keys.press("Enter")
    expect(page.locator("#slot-heading")).to_be_focused()

    path = []
    for _ in range(6):
        keys.press("Tab")
        path.append(focused())
        if path[-1] == "book-patient":
            break
    assert path[-1] == "book-patient", path
    emergency = patient("kbd")
    keys.type(emergency)
    keys.press("Tab")
    assert focused() == "book-source"
    keys.type("Emergency")  # a closed select picks the option starting with what is typed
    expect(page.locator("#book-source")).to_have_value("EMERGENCY")
    for expected in ("book-phone", "book-waitlist", "book"):
        keys.press("Tab")
        assert focused() == expected
    keys.press("Enter")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Token 1 booked for {emergency} \(CRITICAL\)"))
    expect(page.locator("#book-patient")).to_be_focused()  # ready for the next patient
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(1)


# -- admin: sessions and leave ----------------------------------------------------------------------------


def fill_session(page: Page, first: str, last: str, start: str, end: str, minutes: int) -> None:
    page.fill("#sessions-from", first)
    page.fill("#sessions-to", last)
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        page.check(f"#sessions-{day}")
    page.fill("#sessions-start", start)
    page.fill("#sessions-end", end)
    page.fill("#sessions-slot-minutes", str(minutes))


def test_an_admin_opens_a_session_and_records_leave_from_the_desk(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor, day = f"dr-desk-{uuid.uuid4().hex[:6]}", (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    sign_in(page, role="admin", user="admin-desk")
    page.fill("#doctor", doctor)
    page.fill("#day", day)
    page.click("#load-day")
    expect(page.locator("#status")).to_have_text(f"0 slots of {doctor} on {day}")
    expect(page.locator("#admin-section")).to_be_visible()
    expect(page.locator("#admin-heading")).to_have_text(f"Schedule for {doctor} (admin)")
    expect_no_serious_axe_violation(page, "the desk's admin forms")

    fill_session(page, day, day, "09:00", "10:00", 15)
    page.click("#sessions-submit")
    expect(page.locator("#status")).to_have_text(f"{doctor}: 4 slots created, 0 existed")
    rows = page.locator("#slots-body tr[data-slot-id]")
    expect(rows).to_have_count(4)  # the day on screen shows them at once
    page.click("#sessions-submit")
    expect(page.locator("#status")).to_have_text(f"{doctor}: 0 slots created, 4 existed")
    expect(rows).to_have_count(4)

    first = rows.first.get_attribute("data-slot-id")
    assert first
    clinic.check_in(clinic.book(first, patient("leave"))["bookingId"])
    clinic.book(first, patient("leave"), "EMERGENCY")
    page.fill("#leave-date", day)
    page.fill("#leave-reason", "conference")
    says = (
        f"4 slots of {doctor} on {day} will be closed. 2 bookings will be cancelled and their patients told by SMS "
        "(2 of them have no phone and are not told). Patients already called are not touched. "
        "This cannot be undone from the desk."
    )
    page.click("#leave-submit")
    expect_no_serious_axe_violation(page, "the desk asking before leave")
    answer_the_confirmation(page, says, yes=False)
    expect(page.locator("#status")).to_have_text(f"Nothing changed: no leave recorded for {doctor} on {day}")
    expect(page.locator('#slots-body tr[data-closed="false"]')).to_have_count(4)
    page.click("#leave-submit")
    answer_the_confirmation(page, says, yes=True)
    expect(page.locator("#status")).to_have_text(f"{doctor} on leave {day}: 4 slots closed, 2 bookings cancelled")
    expect(page.locator('#slots-body tr[data-closed="true"]')).to_have_count(4)
    expect(page.locator("#messages")).to_be_empty()
    page.evaluate("window.scrollTo(0, 0)")  # the feedback bar sticks to the top: where a person would see it
    screenshot(page, tmp_path_factory, "desk-sessions-and-leave")

    page.click("#leave-submit")
    answer_the_confirmation(
        page, f"{doctor} has no slot on {day}: nothing will change. This cannot be undone from the desk.", yes=True
    )
    expect(page.locator("#status")).to_have_text(f"{doctor} on leave {day}: 4 slots closed, 0 bookings cancelled")


def test_a_session_the_service_refuses_is_named_by_its_field(page: Page) -> None:
    doctor, first = f"dr-desk-{uuid.uuid4().hex[:6]}", datetime.now(UTC).date() + timedelta(days=1)
    sign_in(page, role="admin", user="admin-desk")
    page.fill("#doctor", doctor)
    fill_session(page, first.isoformat(), (first + timedelta(days=30)).isoformat(), "08:00", "18:00", 15)
    page.click("#sessions-submit")
    messages = page.locator("#messages")
    expect(messages).to_contain_text("Open sessions: ")
    expect(messages.locator('li[data-field="to"]')).to_have_text(
        "to: the session makes 1240 slots; at most 500 a request"
    )
    expect(page.locator("#sessions-to")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#status")).to_be_empty()
    assert clinic_slots(page, doctor, first.isoformat()) == 0


def clinic_slots(page: Page, doctor: str, day: str) -> int:
    answer = page.request.get(f"/doctors/{doctor}/slots?date={day}")
    assert answer.status == 200
    return len(answer.json()["slots"])


def test_reception_does_not_see_the_admin_forms(page: Page) -> None:
    sign_in(page)
    expect(page.locator("#doctor")).to_be_visible()
    for form in ("#admin-section", "#sessions-form", "#leave-form", "#delay-form"):
        expect(page.locator(form)).to_be_hidden()


# -- version 3: words, confirmations, people, small screens ------------------------------------------------


def test_places_are_in_words_a_patient_not_arrived_has_no_position_and_a_closed_slot_takes_nothing(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor = f"dr-words-{uuid.uuid4().hex[:6]}"
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    booked = clinic.book(slot["slotId"], patient("booked"))
    sign_in(page)
    open_slot(page, slot)
    row = page.locator(f'tr[data-slot-id="{slot["slotId"]}"]')
    expect(row.locator('td[data-tier="STANDARD"]')).to_have_text("9 free of 10")
    expect(row.locator('td[data-tier="PREMIUM"]')).to_have_text("11 free of 12")
    expect(row.locator('td[data-tier="CRITICAL"]')).to_have_text("14 free of 15")
    expect(page.locator("#slot-summary")).to_contain_text(
        "standard 9 free of 10, premium 11 free of 12, critical 14 free of 15"
    )
    queue_row = page.locator(f'#queue-body tr[data-booking-row="{booked["bookingId"]}"]')
    expect(queue_row.locator("td.ahead")).to_have_text("not arrived yet")  # never "0" before arrival
    expect(page.locator("#queue-body td.ahead")).not_to_have_text(["0"])
    expect_no_serious_axe_violation(page, "the desk with a slot's queue")

    answer = clinic.call("POST", f"/doctors/{doctor}/leave", "admin", {"date": slot_day(slot)})
    assert answer.status_code == 200, answer.text
    page.click("#refresh")
    expect(row).to_have_attribute("data-closed", "true")
    expect(row.locator("th")).to_contain_text("closed: doctor on leave")
    expect(row.locator('td[data-tier="STANDARD"]')).to_have_text("closed")
    expect(page.locator("#slot-closed-note")).to_be_visible()
    expect(page.locator("#book")).to_be_disabled()
    expect(page.locator("#call-next")).to_be_disabled()
    expect_no_serious_axe_violation(page, "the desk with a closed slot")
    screenshot(page, tmp_path_factory, "desk-closed-slot")


def test_an_estimate_on_another_day_says_the_day(page: Page, clinic: Clinic) -> None:
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(days=1, hours=1))
    booked = clinic.book(slot["slotId"], patient("tomorrow"))
    sign_in(page)
    open_slot(page, slot)
    estimate = page.locator(f'#queue-body tr[data-booking-row="{booked["bookingId"]}"] td.estimate')
    expect(estimate).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$"))


def test_a_no_show_asks_first_and_the_finished_list_keeps_it_with_its_phone(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(minutes=-5))
    body = {"slotId": slot["slotId"], "patientId": patient("late"), "source": "WALKIN", "phone": "+919876543210"}
    answer = clinic.call("POST", "/bookings", "reception", body)
    assert answer.status_code == 201, answer.text
    booking = answer.json()
    sign_in(page)
    open_slot(page, slot)
    no_show = page.locator(f'#queue-body button[data-action="no-show"][data-booking-id="{booking["bookingId"]}"]')
    says = (
        f"Token 1 ({body['patientId']}) will be marked no-show: they cannot be checked in any more. "
        "Their place is given back. This cannot be undone."
    )
    no_show.click()
    answer_the_confirmation(page, says, yes=False)
    expect(page.locator("#status")).to_have_text("Nothing changed: token 1 kept")
    expect(page.locator(f'#queue-body tr[data-booking-row="{booking["bookingId"]}"]')).to_have_count(1)
    assert clinic.call("GET", f"/bookings/{booking['bookingId']}", "reception").json()["status"] == "BOOKED"

    no_show.click()
    answer_the_confirmation(page, says, yes=True)
    expect(page.locator("#status")).to_have_text("Token 1 marked no-show")
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(0)
    finished = page.locator(f'#finished-body tr[data-finished-row="{booking["bookingId"]}"]')
    expect(finished).to_have_attribute("data-status", "NO_SHOW")
    expect(finished).to_contain_text("+919876543210")
    screenshot(page, tmp_path_factory, "desk-finished")


def test_a_checked_in_patient_who_left_is_cancelled_and_an_error_names_no_internal_id(
    page: Page, clinic: Clinic
) -> None:
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(minutes=-5))
    left, gone = clinic.book(slot["slotId"], patient("left")), clinic.book(slot["slotId"], patient("gone"))
    clinic.check_in(left["bookingId"])
    sign_in(page)
    open_slot(page, slot)
    cancel = page.locator(f'#queue-body button[data-action="cancel"][data-booking-id="{left["bookingId"]}"]')
    cancel.click()
    answer_the_confirmation(page, re.compile(r"^Token 1 .* will be cancelled\."), yes=True)
    expect(page.locator("#status")).to_have_text("Token 1 cancelled")

    # Cancelled behind the desk's back: the desk's cancel is refused, and said without ids.
    answer = clinic.call("POST", f"/bookings/{gone['bookingId']}/cancel", "reception")
    assert answer.status_code == 200, answer.text
    page.locator(f'#queue-body button[data-action="cancel"][data-booking-id="{gone["bookingId"]}"]').click()
    answer_the_confirmation(page, re.compile(r"^Token 2 "), yes=True)
    messages = page.locator("#messages")
    expect(messages).to_have_text(
        "Cancel token 2: Not possible any more: the booking has changed meanwhile; the lists are refreshed"
    )
    for internal in (gone["bookingId"], slot["slotId"]):
        expect(messages).not_to_contain_text(internal)
    expect_no_serious_axe_violation(page, "the desk showing an error")


def test_an_admin_delays_the_rest_of_the_day_from_the_chosen_slot(page: Page, clinic: Clinic) -> None:
    doctor = f"dr-late-{uuid.uuid4().hex[:6]}"
    slots = [clinic.new_slot(doctor, starts_in=timedelta(hours=1 + i)) for i in range(3)]
    sign_in(page, role="admin", user="admin-desk")
    open_slot_without_queue(page, slots[1])
    page.fill("#delay-minutes", "20")
    page.click("#delay-rest")
    expect(page.locator("#status")).to_have_text(re.compile(r"^2 slots from \d\d:\d\d on running 20 min late$"))
    delayed = [page.locator(f'tr[data-slot-id="{s["slotId"]}"]') for s in slots]
    expect(delayed[0]).to_have_attribute("data-delayed", "false")  # before the chosen slot: untouched
    expect(delayed[1]).to_have_attribute("data-delayed", "true")
    expect(delayed[2]).to_have_attribute("data-delayed", "true")


def open_slot_without_queue(page: Page, slot: dict[str, str]) -> None:
    page.fill("#doctor", slot["doctorId"])
    page.fill("#day", slot_day(slot))
    page.click("#load-day")
    row = page.locator(f'tr[data-slot-id="{slot["slotId"]}"]')
    row.locator("button[data-action=select]").click()
    expect(row).to_have_attribute("aria-current", "true")


def test_doctors_come_from_the_directory_and_a_typed_id_still_works(page: Page, clinic: Clinic) -> None:
    doctor = f"dr-dir-{uuid.uuid4().hex[:6]}"
    answer = clinic.call(
        "PUT", f"/doctors/{doctor}", "admin", {"name": "Dr Meera Nair", "department": "ENT", "room": "7"}
    )
    assert answer.status_code == 200, answer.text
    slot = clinic.new_slot(doctor)
    sign_in(page)
    option = page.locator(f'#doctor-list option[value="{doctor}"]')
    expect(option).to_have_count(1)
    assert option.get_attribute("label") is None
    expect(option).to_have_text("Dr Meera Nair · ENT · room 7")
    open_slot_without_queue(page, slot)
    expect(page.locator("#doctor-info")).to_have_text("Dr Meera Nair (ENT, room 7)")
    expect(page.locator("#slots-caption")).to_have_text(f"Slots of Dr Meera Nair (ENT, room 7) on {slot_day(slot)}")

    unknown = clinic.new_slot(f"dr-typed-{uuid.uuid4().hex[:6]}")
    open_slot_without_queue(page, unknown)  # an id with no record: its slots still show
    expect(page.locator("#doctor-info")).to_have_text(
        f"{unknown['doctorId']}: not in the directory (its slots still show)"
    )


@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_the_desk_fits_a_phone_and_a_tablet(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory, size: str
) -> None:
    page.set_viewport_size(SIZES[size])
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(minutes=-5))
    clinic.check_in(clinic.book(slot["slotId"], patient("phone"))["bookingId"])
    clinic.book(slot["slotId"], patient("phone"), "EMERGENCY")
    sign_in(page)
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (size, "signed in", width, viewport)
    open_slot(page, slot)
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(2)
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (size, "a slot's queue", width, viewport)
    expect_no_serious_axe_violation(page, f"the desk on a {size}")
    screenshot(page, tmp_path_factory, f"desk-{size}")


def test_the_desk_books_by_patient_search_or_registers_one_and_the_queue_shows_names(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Against the real register: a patient found by typing, one registered in Devanagari at the desk, and
    the queue's names as the API answers them (patientName)."""
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(minutes=-5))
    surname = "Nair" + uuid.uuid4().hex[:4].translate(str.maketrans("0123456789", "ghijklmnop"))
    meera = clinic.register(f"Meera {surname}", "+919876543210", year_of_birth=1984)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/patients?q=" in r.url else None)
    sign_in(page)
    open_slot(page, slot)

    page.fill("#patient-search", surname[0])
    page.wait_for_timeout(600)
    assert asked == []  # one letter asks nothing
    page.fill("#patient-search", surname.lower())
    pick = page.locator("#patient-results button")
    expect(pick).to_have_text([f"Meera {surname} · phone …3210 · born 1984"])
    expect_no_serious_axe_violation(page, "the desk's patient search")
    pick.click()
    expect(page.locator("#book-patient")).to_have_value(meera["patientId"])
    expect(page.locator("#book-patient-name")).to_have_text(f"Meera {surname}, phone …3210")
    expect(page.locator("#book-phone")).to_have_value("+919876543210")
    expect(page.locator("#book-source")).to_be_focused()
    page.click("#book")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Token 1 booked for Meera {surname} \(STANDARD\) in "))
    row = page.locator("#queue-body tr[data-token='1']")
    expect(row.locator("td.patient")).to_contain_text(f"Meera {surname}")

    hindi = "रवि कुमार " + surname  # a name in Devanagari, found again by its first word
    page.locator("#register-box summary").click()
    page.fill("#new-patient-name", hindi)
    page.fill("#new-patient-phone", "+919812345678")
    page.click("#register-patient")
    expect(page.locator("#status")).to_have_text(f"{hindi} registered: choose the source and press Book")
    ravi_id = page.locator("#book-patient").input_value()
    stored = clinic.call("GET", f"/patients/{ravi_id}", "reception").json()
    assert (stored["name"], stored["phone"]) == (hindi, "+919812345678"), stored
    page.click("#book")
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Token 2 booked for {hindi} \(STANDARD\) in "))
    expect(page.locator("#queue-body tr[data-token='2'] td.patient")).to_contain_text(hindi)
    page.fill("#patient-search", "रवि")
    expect(page.locator("#patient-results button")).to_have_text([f"{hindi} · phone …5678"])
    # The names come from the API, not from the page's memory: a new page shows them too.
    page.reload()
    expect(page.locator("#whoami")).to_have_text("desk-1 (reception)")
    open_slot(page, slot)
    expect(page.locator("#queue-body tr[data-token='1'] td.patient")).to_contain_text(f"Meera {surname}")
    expect(page.locator("#queue-body tr[data-token='2'] td.patient")).to_contain_text(hindi)
    # At 1280 px the queue's actions fit: the table does not scroll sideways within its frame.
    frame = page.locator("#queue").locator("xpath=..")
    assert frame.evaluate("e => e.scrollWidth <= e.clientWidth"), frame.evaluate("e => [e.scrollWidth, e.clientWidth]")
    screenshot(page, tmp_path_factory, "desk-patients")
