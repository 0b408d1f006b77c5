"""The patient's pages in Chromium at 360×640 (contract v3, "Web pages"): app.html signs in by phone with the code
the local SNS sent (GET /_local/sms), names a new patient, books, follows "my bookings", cancels after a
confirmation, joins a waitlist and sees the promotion; status.html#<code> follows the same booking without
sign-in. Against the whole local stack, auth on."""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.support import (
    Clinic,
    document_fits_the_viewport,
    expect_no_serious_axe_violation,
    screenshot,
    slot_day,
    small_targets,
)
from tests.support.signin import code_in

pytestmark = pytest.mark.xdist_group("browser")

PHONE_SIZE = ViewportSize(width=360, height=640)
NOTICED_WITHIN_MS = 10_000  # the contract: "current within 10 s"


def a_phone() -> str:
    return f"+9197{random.randrange(10**8):08d}"


def a_doctor(clinic: Clinic, name: str = "Dr Asha Rao", room: str = "12B") -> str:
    doctor = f"dr-{uuid.uuid4().hex[:8]}"
    department = f"General Medicine {doctor[-4:]}"  # a department of its own: the test picks it without doubt
    answer = clinic.call("PUT", f"/doctors/{doctor}", "admin", {"name": name, "department": department, "room": room})
    assert answer.status_code == 200, answer.text
    return doctor


def code_sent_to(clinic: Clinic, phone: str) -> str:
    """The latest sign-in code the local SNS sent to `phone` (GET /_local/sms: codes have eventId null)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = clinic.session.get(clinic.stack.url + "/_local/sms", timeout=10).json()["messages"]
        codes = [m for m in messages if m["phone"] == phone and m.get("eventId") is None]
        if codes:
            return code_in(codes[-1]["text"])
        time.sleep(0.2)
    raise AssertionError(f"no sign-in code reached {phone}")


def sign_in(page: Page, clinic: Clinic, phone: str, name: str | None = None) -> None:
    """Sign in on app.html by phone and code; a new patient then gives `name`."""
    page.set_viewport_size(PHONE_SIZE)
    page.goto("/app.html")
    page.fill("#phone", phone)
    page.click("#send-code")
    expect(page.locator("#code")).to_be_focused()
    page.fill("#code", code_sent_to(clinic, phone))
    page.click("#verify")
    if name is not None:
        expect(page.locator("#name-step")).to_be_visible()
        expect_no_serious_axe_violation(page, "the app's name step")
        page.fill("#name", name)
        page.click("#save-name")
    expect(page.locator("#book")).to_be_visible()


def choose(page: Page, clinic: Clinic, doctor: str) -> None:
    department = clinic.call("GET", f"/doctors/{doctor}").json()["department"]
    page.select_option("#department", department)
    page.select_option("#doctor", doctor)


def fits(page: Page, what: str) -> None:
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (what, width, viewport)


def test_a_patient_signs_in_by_phone_books_and_sees_the_token(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor = a_doctor(clinic)
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=30))
    page.set_viewport_size(PHONE_SIZE)
    page.goto("/app.html")
    expect_no_serious_axe_violation(page, "the app's sign-in")
    fits(page, "sign-in")
    sign_in(page, clinic, a_phone(), name="प्रिया शर्मा")
    expect(page.locator("#whoami")).to_have_text("प्रिया शर्मा")
    choose(page, clinic, doctor)
    row = page.locator(f'#slots li[data-slot-id="{slot["slotId"]}"]')
    expect(row).to_contain_text("10 places free")
    row.locator("button[data-action=book]").click()
    expect(page.locator("#message")).to_contain_text("Booked: token 1 with Dr Asha Rao, room 12B")
    card = page.locator("#bookings li").first
    expect(card.locator(".booking-token")).to_have_text("Token 1")
    expect(card.locator(".booking-state")).to_have_text("Booked. Please check in at reception when you arrive.")
    expect(card.locator(".booking-estimate")).to_contain_text("Expected call about")
    fits(page, "a booking")
    expect_no_serious_axe_violation(page, "the app with a booking")
    screenshot(page, tmp_path_factory, "app-phone")
    assert small_targets(page) == []


def test_a_desk_registered_phone_signs_in_to_that_patient_and_the_text_at_200_percent_fits(
    page: Page, clinic: Clinic
) -> None:
    phone = a_phone()
    registered = clinic.register("Meera Nair", phone)
    sign_in(page, clinic, phone)  # no name asked: the desk gave it
    expect(page.locator("#whoami")).to_have_text("Meera Nair")
    assert page.evaluate("JSON.parse(localStorage.getItem('opd.patient')).patientId") == registered["patientId"]
    page.evaluate("document.documentElement.style.fontSize = '200%'")  # the browser's text at 200 %
    fits(page, "text at 200 %")
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("localStorage.getItem('opd.patient')") is None


def booked_in_app(page: Page, clinic: Clinic, doctor: str, slot: dict[str, Any]) -> dict[str, Any]:
    choose(page, clinic, doctor)
    page.locator(f'#slots li[data-slot-id="{slot["slotId"]}"] button[data-action=book]').click()
    expect(page.locator("#bookings li")).to_have_count(1)
    booking_id = page.locator("#bookings li").first.get_attribute("data-booking-id")
    answer = clinic.call("GET", f"/bookings/{booking_id}", "reception")
    assert answer.status_code == 200, answer.text
    booking: dict[str, Any] = answer.json()
    return booking


def test_the_desk_calls_the_patient_and_the_app_and_the_status_page_show_it(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor = a_doctor(clinic)
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    sign_in(page, clinic, a_phone(), name="Ravi Kumar")
    booking = booked_in_app(page, clinic, doctor, slot)
    link = page.locator("#bookings li a.status-link")
    expect(link).to_have_attribute("href", f"status.html#{booking['statusCode']}")

    status = page.context.new_page()
    status.set_viewport_size(PHONE_SIZE)
    status.goto(f"/status.html#{booking['statusCode']}")
    expect(status.locator("#token")).to_have_text("1")
    expect(status.locator("#doctor")).to_have_text("Dr Asha Rao, room 12B")
    expect(status.locator("#state")).to_have_text("Booked. Please check in at reception when you arrive.")
    expect_no_serious_axe_violation(status, "the status page, booked")

    clinic.check_in(booking["bookingId"])
    called = clinic.call("POST", f"/slots/{slot['slotId']}/call-next", "reception")
    assert called.json()["called"]["bookingId"] == booking["bookingId"], called.text
    expect(status.locator("#state")).to_have_text(
        "It is your turn: please go in to Dr Asha Rao, room 12B now.", timeout=NOTICED_WITHIN_MS
    )
    expect(status.locator("#calling")).to_be_hidden()  # the turn is the patient's own: said above, once
    expect(page.locator("#bookings li .booking-state")).to_have_text(
        "It is your turn: please go in to Dr Asha Rao, room 12B now.", timeout=NOTICED_WITHIN_MS
    )
    expect(page.locator("#message")).to_contain_text("Token 1: it is your turn")
    fits(status, "the status page")
    expect_no_serious_axe_violation(status, "the status page, called")
    screenshot(status, tmp_path_factory, "status-phone")
    # The code lives in the address only: in no storage and no cookie of the origin (the app's session is there).
    kept = status.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert booking["statusCode"] not in kept, kept
    status.close()


def test_change_time_moves_the_booking_to_another_slot_of_the_doctor(page: Page, clinic: Clinic) -> None:
    doctor = a_doctor(clinic)
    first = clinic.new_slot(doctor, starts_in=timedelta(hours=2))
    later = clinic.new_slot(doctor, starts_in=timedelta(hours=3))
    sign_in(page, clinic, a_phone(), name="Deepa Iyer")
    old = booked_in_app(page, clinic, doctor, first)
    page.locator(f'#bookings li[data-booking-id="{old["bookingId"]}"] button[data-action=reschedule]').click()
    expect(page.locator("#reschedule-dialog")).to_be_visible()
    page.fill("#reschedule-day", slot_day(later))  # the same day as the first, but near midnight the next
    expect(page.locator("#reschedule-slot option")).to_have_count(1)  # the doctor's other free slot that day
    expect_no_serious_axe_violation(page, "the app's change of time")
    page.select_option("#reschedule-slot", later["slotId"])
    page.click("#reschedule-confirm")
    expect(page.locator("#message")).to_contain_text("Moved: your new token is 1 with Dr Asha Rao, room 12B")
    expect(page.locator(f'#bookings li[data-booking-id="{old["bookingId"]}"]')).to_have_attribute(
        "data-status", "CANCELLED"
    )
    moved = clinic.call("GET", f"/bookings/{old['bookingId']}", "reception").json()
    assert moved["cancelReason"] == "RESCHEDULED", moved
    expect(page.locator(f'#bookings li[data-booking-id="{moved["rescheduledTo"]}"]')).to_have_attribute(
        "data-status", "BOOKED"
    )


def test_cancel_asks_first_and_no_keeps_the_booking(page: Page, clinic: Clinic) -> None:
    doctor = a_doctor(clinic)
    slot = clinic.new_slot(doctor, starts_in=timedelta(hours=2))
    sign_in(page, clinic, a_phone(), name="Kavya S")
    booked_in_app(page, clinic, doctor, slot)
    card = page.locator("#bookings li").first
    card.locator("button[data-action=cancel]").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text(
        "Cancel token 1 with Dr Asha Rao, room 12B? The place goes to someone else."
    )
    expect_no_serious_axe_violation(page, "the app's cancel confirmation")
    page.click("#confirm-no")
    expect(page.locator("#bookings li").first).to_have_attribute("data-status", "BOOKED")
    card.locator("button[data-action=cancel]").click()
    page.click("#confirm-yes")
    expect(page.locator("#message")).to_have_text("Cancelled token 1 with Dr Asha Rao, room 12B.")
    expect(page.locator("#bookings li").first).to_have_attribute("data-status", "CANCELLED")


def test_a_full_slot_offers_the_waitlist_and_the_promotion_shows(page: Page, clinic: Clinic) -> None:
    doctor = a_doctor(clinic)
    slot = clinic.new_slot(doctor, starts_in=timedelta(hours=2), baseCapacity=1, premiumBuffer=0, emergencyBuffer=0)
    first = clinic.book(slot["slotId"], f"walkin-{uuid.uuid4().hex[:6]}")
    sign_in(page, clinic, a_phone(), name="Arjun Rao")
    choose(page, clinic, doctor)
    row = page.locator(f'#slots li[data-slot-id="{slot["slotId"]}"]')
    expect(row).to_contain_text("Full: you can join the waitlist")
    row.locator("button[data-action=waitlist]").click()
    expect(page.locator("#message")).to_have_text(
        "You are on the waitlist, number 1. You get an SMS if a place comes free."
    )
    expect(page.locator("#bookings li").first).to_have_attribute("data-status", "WAITLISTED")
    cancelled = clinic.call("POST", f"/bookings/{first['bookingId']}/cancel", "reception")
    assert cancelled.status_code == 200, cancelled.text
    expect(page.locator("#message")).to_have_text(
        "A place came free: you now have token 2 with Dr Asha Rao, room 12B.", timeout=NOTICED_WITHIN_MS
    )
    expect(page.locator("#bookings li").first).to_have_attribute("data-status", "BOOKED")


def test_a_wrong_code_is_said_in_words_and_an_unknown_status_link_too(page: Page, clinic: Clinic) -> None:
    page.set_viewport_size(PHONE_SIZE)
    page.goto("/app.html")
    phone = a_phone()
    page.fill("#phone", phone)
    page.click("#send-code")
    right = code_sent_to(clinic, phone)
    page.fill("#code", f"{(int(right) + 1) % 10**6:06d}")  # any other code
    page.click("#verify")
    expect(page.locator("#error")).to_have_text("That code is wrong or has expired: ask for a new one")
    page.goto("/status.html#" + "x" * 16)
    expect(page.locator("#message")).to_have_text("No booking has this link. Please check the link in your SMS.")
    expect_no_serious_axe_violation(page, "the status page, unknown link")
