"""desk.html in chromium, as a receptionist uses it, against today's API (local sign-in, auth on)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.support import Clinic, open_slot, patient, screenshot, sign_in, slot_day

pytestmark = pytest.mark.xdist_group("browser")


def book_with_the_form(page: Page, patient_id: str, source: str) -> None:
    page.fill("#book-patient", patient_id)
    page.select_option("#book-source", source)
    page.click("#book")


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
    expect(page.locator("#messages")).to_have_text("Booking failed: Slot full for STANDARD: 1/1")
    expect(page.locator("#status")).to_be_empty()
    expect(page.locator("#queue-body tr[data-booking-row]")).to_have_count(1)  # nobody more booked
    page.locator("#log-box summary").click()
    expect(page.locator("#log li").first).to_contain_text("Slot full for STANDARD: 1/1")
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
    cancel.click()
    expect(page.locator("#status")).to_have_text("Token 1 cancelled")
    promoted = page.locator(f'#queue-body tr[data-booking-row="{row_of(page, waiting)}"]')
    expect(promoted).to_have_attribute("data-token", "2")  # the next token, given with the place
    expect(promoted).to_have_attribute("data-status", "BOOKED")
    expect(waitlist_rows).to_have_count(0)
    expect(page.locator("#waitlist-body")).to_have_text("No one waitlisted")
    expect(page.locator("#slot-summary")).to_contain_text("0 waitlisted")
    expect(page.locator("#messages")).to_be_empty()
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
    page.click("#leave-submit")
    expect(page.locator("#status")).to_have_text(f"{doctor} on leave {day}: 4 slots closed, 2 bookings cancelled")
    expect(page.locator('#slots-body tr[data-closed="true"]')).to_have_count(4)
    expect(page.locator("#messages")).to_be_empty()
    page.evaluate("window.scrollTo(0, 0)")  # the feedback bar sticks to the top: where a person would see it
    screenshot(page, tmp_path_factory, "desk-sessions-and-leave")

    page.click("#leave-submit")
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
