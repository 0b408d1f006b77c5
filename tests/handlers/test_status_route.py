"""GET /status/{code} through its handler, driven by events/get_status.json (contract, "Status links"): the Status
of the booking a code belongs to, public, with nothing that names or reaches the patient; a rescheduled booking's
code answers its new booking; an unknown code is 404, a malformed one 400; the code is never logged."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from opd import runtime
from opd.contract import iso_utc
from opd.domain import ARCHIVE_AT, STATUS_CODE_PATTERN, Booking, Capacity, Doctor, Slot, Source
from opd.domain.patients import register
from opd.service import Allocator
from tests.handlers.support import Answer, call, context, event, handler_module

STATUS_KEYS = {
    "token", "status", "doctorName", "room", "start", "end", "delayed", "delayMinutes", "closed", "position",
    "estimatedCallAt", "waitlistPosition", "calling",
}  # fmt: skip
DESK = "desk-anna"


def status_of(code: str, role: str | None = None) -> Answer:
    """GET /status/{code} as API Gateway hands it over: the sample event, this code, no token (or a role's)."""
    return call("get_status", event("get_status", path={"code": code}, role=role))


def raw_status(code: str) -> str:
    """The answer's body exactly as it leaves the function: what a privacy check must search."""
    raw = handler_module("get_status").lambda_handler(event("get_status", path={"code": code}), context())
    return cast(str, raw["body"])


def booked(slot: Slot, patient_id: str, phone: str | None = None, key: str | None = None) -> dict[str, Any]:
    body = {"slotId": slot.slot_id, "patientId": patient_id, "source": "WALKIN"} | ({"phone": phone} if phone else {})
    ev = event("create_booking", body=body, role="reception", user=DESK, headers={"Idempotency-Key": key})
    answer = call("create_booking", ev)
    assert answer.status == 201, answer.body
    made: dict[str, Any] = answer.body
    return made


def on_booking(name: str, booking_id: str) -> dict[str, Any]:
    answer = call(name, event(name, path={"bookingId": booking_id}, role="reception", user=DESK))
    assert answer.status == 200, (name, answer.body)
    body: dict[str, Any] = answer.body
    return body


def test_the_sample_event_is_a_well_formed_code_nobody_has() -> None:
    sample = event("get_status")
    assert sample["routeKey"] == "GET /status/{code}" and "authorization" not in sample["headers"]
    assert STATUS_CODE_PATTERN.fullmatch(sample["pathParameters"]["code"])
    answer = call("get_status", sample)
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


def test_a_booked_code_answers_its_status_with_position_estimate_and_the_token_called(slot: Slot) -> None:
    runtime.doctor_store().record(Doctor.of(slot.doctor_id, "Dr Asha Rao", "ENT", room="OPD-12"))
    first, second, third = (booked(slot, f"p-{n}") for n in range(3))
    for waiting in (first, second):
        on_booking("check_in_booking", waiting["bookingId"])
    called = call("call_next", event("call_next", path={"slotId": slot.slot_id}, role="reception"))
    assert called.body["called"]["token"] == first["token"]

    answer = status_of(third["statusCode"])
    assert answer.status == 200, answer.body
    assert set(answer.body) == STATUS_KEYS
    as_booking = on_booking("get_booking", third["bookingId"])  # the Booking the desk is answered, at once
    assert answer.body == {
        "token": 3,
        "status": "BOOKED",
        "doctorName": "Dr Asha Rao",
        "room": "OPD-12",
        "start": iso_utc(slot.start),
        "end": iso_utc(slot.end),
        "delayed": False,
        "delayMinutes": 0,
        "closed": False,
        "position": 2,  # the one in the room and the one checked in
        "estimatedCallAt": as_booking["estimatedCallAt"],
        "waitlistPosition": None,
        "calling": first["token"],
    }
    assert as_booking["position"] == 2 and as_booking["estimatedCallAt"] is not None
    headers = {name.lower(): value for name, value in answer.headers.items()}
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    in_room = status_of(first["statusCode"], role="patient").body  # a token changes nothing: it is public
    assert (in_room["status"], in_room["position"], in_room["calling"]) == ("CALLED", 0, first["token"])


def test_a_waitlisted_code_of_an_unrecorded_doctor_shows_its_place_and_the_doctors_id(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    small = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 0, 0))
    allocator.book(small.slot_id, "p-holder", Source.WALKIN)
    waiting = allocator.book(small.slot_id, "p-waiting", Source.ONLINE, waitlist=True)
    allocator.set_delay(small.slot_id, True, 15)
    body = status_of(str(waiting.status_code)).body
    assert (body["status"], body["token"], body["waitlistPosition"], body["position"]) == ("WAITLISTED", None, 1, None)
    assert (body["doctorName"], body["room"], body["delayed"], body["delayMinutes"]) == (doctor_id, None, True, 15)


def test_a_rescheduled_bookings_old_code_answers_the_new_booking(allocator: Allocator, slot: Slot) -> None:
    later = allocator.create_slot(slot.doctor_id, slot.end + timedelta(hours=1), slot.end + timedelta(hours=2))
    allocator.book(later.slot_id, "p-before", Source.WALKIN)  # so the moved booking is token 2 there
    old = booked(slot, "p-moving")
    moved = call(
        "reschedule_booking",
        event(
            "reschedule_booking", path={"bookingId": old["bookingId"]}, body={"slotId": later.slot_id}, role="reception"
        ),
    )
    assert moved.status == 201, moved.body
    new = moved.body
    assert new["statusCode"] != old["statusCode"] and STATUS_CODE_PATTERN.fullmatch(new["statusCode"])
    assert on_booking("get_booking", old["bookingId"])["status"] == "CANCELLED"
    by_old, by_new = status_of(old["statusCode"]).body, status_of(new["statusCode"]).body
    assert by_old == by_new
    assert (by_old["status"], by_old["token"], by_old["position"]) == ("BOOKED", 2, 1)
    assert (by_old["start"], by_old["estimatedCallAt"]) == (iso_utc(later.start), new["estimatedCallAt"])
    body = raw_status(old["statusCode"])
    assert new["bookingId"] not in body and new["statusCode"] not in body and old["bookingId"] not in body


def test_an_archived_bookings_code_answers_its_final_state(allocator: Allocator, slot: Slot) -> None:
    gone = [allocator.cancel(allocator.book(slot.slot_id, f"p-gone-{n}", Source.WALKIN).booking_id)
            for n in range(ARCHIVE_AT)]  # fmt: skip
    allocator.book(slot.slot_id, "p-after", Source.WALKIN)  # a write after the 10th: they go to the archive
    assert all(b.booking_id not in {x.booking_id for x in allocator.get_slot(slot.slot_id).bookings} for b in gone)
    body = status_of(str(gone[0].status_code)).body
    assert (body["status"], body["token"], body["position"], body["calling"]) == ("CANCELLED", 1, None, None)


@pytest.mark.parametrize("code", ["A" * 16, "Zm9vYmFyYmF6cXV4", "x" * 64, "-_-_-_-_-_-_-_-_"])
def test_an_unknown_well_formed_code_is_404_and_its_message_does_not_quote_it(code: str, booking: Booking) -> None:
    answer = status_of(code)
    assert (answer.status, answer.code) == (404, "NOT_FOUND")
    assert code not in json.dumps(answer.body)


@pytest.mark.parametrize("code", ["abc", "a" * 15, "a" * 65, "abc!defghijklmnop", "ab cdefghijklmnopq", "é" * 16])
def test_a_malformed_code_is_400_naming_the_code(code: str) -> None:
    answer = status_of(code)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["code"]


def test_the_answer_names_and_reaches_nobody(slot: Slot) -> None:
    """The raw answer is searched for everything that would name or reach the patient: none of it is there."""
    now = datetime.now(UTC).replace(microsecond=0)
    name, phone = "Meenakshi Sundaram", "+919845012345"
    patient = register("pt-status-privacy1", {"name": name, "phone": phone}, now, now.year)
    assert runtime.patient_store().insert(patient)
    other = booked(slot, "p-neighbour", phone="+919845099999")  # another booking of the slot
    mine = booked(slot, patient.patient_id, phone="+919845011111")
    assert mine["patientName"] == name and mine["phone"] == "+919845011111"  # staff see them
    on_booking("check_in_booking", other["bookingId"])
    call("call_next", event("call_next", path={"slotId": slot.slot_id}, role="reception"))

    body = raw_status(mine["statusCode"])
    assert json.loads(body)["position"] == 1 and json.loads(body)["calling"] == other["token"]
    secrets = [
        patient.patient_id, name, "Meenakshi", "Sundaram", phone, phone.removeprefix("+"), "9845012345",
        "+919845011111", "919845011111", "9845011111", mine["bookingId"], mine["statusCode"],
        other["bookingId"], other["statusCode"], other["patientId"], "+919845099999", "9845099999", slot.slot_id,
    ]  # fmt: skip
    assert [secret for secret in secrets if secret in body] == []


def test_a_repeated_booking_has_the_same_code_and_each_booking_its_own(slot: Slot) -> None:
    first = booked(slot, "p-keyed", key="status-links-1")
    again = booked(slot, "p-keyed", key="status-links-1")
    other = booked(slot, "p-other")
    assert again["bookingId"] == first["bookingId"] and again["statusCode"] == first["statusCode"]
    assert other["statusCode"] != first["statusCode"]
    assert on_booking("get_booking", first["bookingId"])["statusCode"] == first["statusCode"]


def test_a_code_is_never_logged(
    slot: Slot, log_lines: io.StringIO, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    made = booked(slot, "p-logged", phone="+919845022222", key="status-links-log")
    booked(slot, "p-logged", phone="+919845022222", key="status-links-log")  # the repeat: the first answer
    code = made["statusCode"]
    on_booking("get_booking", made["bookingId"])
    answers = [status_of(code), status_of(code[::-1]), status_of(code + "!")]
    assert [a.status for a in answers] == [200, 404, 400]
    captured = capsys.readouterr()
    logged = "\n".join([log_lines.getvalue(), caplog.text, captured.out, captured.err])
    assert '"request refused"' in logged and '"request invalid"' in logged  # the capture sees the refusals
    assert code not in logged and code[::-1] not in logged
