"""Bookings answer `patientName` from the patient register (contract v3, Booking): to staff and the booking's
owner, on every route that answers a booking, null for a patient the register does not hold, read as the answer
is made (a corrected name shows at once), and never at the cost of a 503 once a booking is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import runtime
from opd.domain import Booking, Capacity, Slot, Source
from opd.domain.patients import register
from opd.errors import DependencyUnavailable
from opd.service import Allocator
from tests.handlers.support import PATIENT, Answer, call, event

ASHA = "आशा वर्मा"  # the sample patient (PATIENT), registered in Devanagari


@pytest.fixture
def asha() -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    made = register(PATIENT, {"name": ASHA, "phone": "+919876500001"}, now, now.year)
    assert runtime.patient_store().insert(made)
    return made.patient_id


def booked(slot: Slot, patient_id: str, role: str = "reception") -> Answer:
    body = {"slotId": slot.slot_id, "patientId": patient_id, "source": "ONLINE" if role == "patient" else "WALKIN"}
    answer = call("create_booking", event("create_booking", body=body, role=role, headers={"Idempotency-Key": None}))
    assert answer.status == 201, answer.body
    return answer


def on_booking(name: str, booking_id: str, role: str = "reception") -> Answer:
    answer = call(name, event(name, path={"bookingId": booking_id}, role=role))
    assert answer.status == 200, (name, answer.body)
    return answer


def on_slot(name: str, slot_id: str) -> dict[str, Any]:
    answer = call(name, event(name, path={"slotId": slot_id}, role="reception"))
    assert answer.status == 200, (name, answer.body)
    body: dict[str, Any] = answer.body
    return body


def test_every_route_that_answers_a_booking_names_a_registered_patient(asha: str, slot: Slot) -> None:
    mine = booked(slot, asha, role="patient").body
    assert mine["patientName"] == ASHA  # the owner is answered their own name
    walk_in = booked(slot, "walkin-unregistered").body
    assert walk_in["patientName"] is None  # not in the register: null, as the contract says

    assert on_booking("get_booking", mine["bookingId"], role="patient").body["patientName"] == ASHA
    assert on_booking("check_in_booking", mine["bookingId"]).body["patientName"] == ASHA
    queue = on_slot("get_queue", slot.slot_id)["queue"]
    assert {b["patientId"]: b["patientName"] for b in queue} == {asha: ASHA, "walkin-unregistered": None}
    called = on_slot("call_next", slot.slot_id)
    assert (called["called"]["patientId"], called["called"]["patientName"]) == (asha, ASHA)
    mine_listed = event("list_patient_bookings", path={"patientId": asha}, role="patient", query=None)
    listed = call("list_patient_bookings", mine_listed)
    assert [b["patientName"] for b in listed.body["bookings"]] == [ASHA]


def test_a_name_corrected_in_the_register_shows_on_the_next_answer(asha: str, booking: Booking) -> None:
    changed = call("update_patient", event("update_patient", path={"patientId": asha}, body={"name": "Asha Varma"}))
    assert changed.status == 200, changed.body
    assert on_booking("get_booking", booking.booking_id).body["patientName"] == "Asha Varma"


def test_a_walk_in_registered_after_booking_is_named_from_then_on(allocator: Allocator, slot: Slot) -> None:
    walk_in = allocator.book(slot.slot_id, "pt-later01", Source.WALKIN)
    assert on_booking("get_booking", walk_in.booking_id).body["patientName"] is None
    now = datetime.now(UTC).replace(microsecond=0)
    assert runtime.patient_store().insert(register("pt-later01", {"name": "Kavya S"}, now, now.year))
    assert on_booking("get_booking", walk_in.booking_id).body["patientName"] == "Kavya S"


def test_leave_and_the_waitlist_name_their_patients(asha: str, allocator: Allocator, doctor_id: str) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=5)
    small = allocator.create_slot(doctor_id, start, start + timedelta(hours=1), Capacity(1, 0, 0))
    allocator.book(small.slot_id, "walkin-first", Source.WALKIN)
    allocator.book(small.slot_id, asha, Source.ONLINE, waitlist=True)
    waitlist = on_slot("get_waitlist", small.slot_id)["waitlist"]
    assert [(b["patientId"], b["patientName"]) for b in waitlist] == [(asha, ASHA)]
    day = small.start.astimezone(runtime.settings().clinic_zone).date().isoformat()
    taken = call("take_leave", event("take_leave", path={"doctorId": doctor_id}, body={"date": day}, role="admin"))
    assert taken.status == 200, taken.body
    assert {b["patientId"]: b["patientName"] for b in taken.body["cancelled"]} == {asha: ASHA, "walkin-first": None}


def test_a_register_that_cannot_be_read_answers_null_names_never_a_503(
    monkeypatch: pytest.MonkeyPatch, asha: str, slot: Slot
) -> None:
    """A lost register must not turn a booking into a 503 (contract: a booking that was written is never answered
    503): neither the read that takes the patient's language and name before the write, nor one after it."""

    def unreachable(ids: object) -> dict[str, str]:
        raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")

    monkeypatch.setattr(runtime.patient_store(), "names_of", unreachable)
    monkeypatch.setattr(runtime.patient_store(), "name_and_language", unreachable)
    answer = booked(slot, asha)
    assert (answer.body["status"], answer.body["token"], answer.body["patientName"]) == ("BOOKED", 1, None)
    assert on_slot("get_queue", slot.slot_id)["queue"][0]["patientName"] is None
