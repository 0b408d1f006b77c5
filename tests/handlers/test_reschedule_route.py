"""POST /bookings/{id}/reschedule through its handler: the new booking, the old one cancelled, roles, repeats."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from devserver.servers import LocalServer
from opd.api import resolver
from opd.domain import Booking, Capacity, Slot, Source, Status
from opd.service import Allocator
from opd.store import SlotStore
from tests.handlers.support import PATIENT, Answer, call, event, point_runtime_at


def reschedule(
    booking_id: str, slot_id: str, role: str = "patient", user: str | None = None, key: str | None = None
) -> Answer:
    headers: dict[str, str | None] = {"idempotency-key": key}
    ev = event(
        "reschedule_booking",
        path={"bookingId": booking_id},
        body={"slotId": slot_id},
        role=role,
        user=user,
        headers=headers,
    )
    return call("reschedule_booking", ev)


def later_slot(allocator: Allocator, slot: Slot, **capacity: int) -> Slot:
    start = slot.start + timedelta(hours=1)
    return allocator.create_slot(slot.doctor_id, start, start + timedelta(hours=1), Capacity(**capacity))


def test_the_patient_moves_their_booking_and_gets_the_new_one(
    allocator: Allocator, slot: Slot, booking: Booking
) -> None:
    target = later_slot(allocator, slot)
    answer = reschedule(booking.booking_id, target.slot_id)
    assert answer.status == 201, answer.body
    new = answer.body
    assert (new["slotId"], new["patientId"], new["source"], new["status"]) == (
        target.slot_id,
        PATIENT,
        "ONLINE",
        "BOOKED",
    )
    assert new["rescheduledFrom"] == booking.booking_id and new["token"] == 1
    old = allocator.get_booking(booking.booking_id)
    assert (old.status, old.cancel_reason, old.rescheduled_to) == (Status.CANCELLED, "RESCHEDULED", new["bookingId"])
    assert old.history[-1].by == PATIENT
    again = reschedule(booking.booking_id, target.slot_id)
    assert (again.status, again.body["bookingId"]) == (201, new["bookingId"])  # the same request, the same booking
    assert allocator.get_slot(target.slot_id).booked == 1


def test_a_full_target_is_slot_full_and_the_old_booking_untouched(
    allocator: Allocator, slot: Slot, booking: Booking
) -> None:
    target = later_slot(allocator, slot, base=1, premium_buffer=0, emergency_buffer=0)
    allocator.book(target.slot_id, "someone-else", Source.ONLINE)
    answer = reschedule(booking.booking_id, target.slot_id)
    assert (answer.status, answer.code) == (409, "SLOT_FULL")
    assert allocator.get_booking(booking.booking_id) == booking


def test_the_same_slot_is_a_validation_error(slot: Slot, booking: Booking) -> None:
    answer = reschedule(booking.booking_id, slot.slot_id)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.body["error"]["details"]] == ["slotId"]


def test_only_a_booked_booking_moves(allocator: Allocator, slot: Slot, booking: Booking) -> None:
    allocator.check_in(booking.booking_id)
    answer = reschedule(booking.booking_id, later_slot(allocator, slot).slot_id)
    assert (answer.status, answer.code) == (409, "INVALID_TRANSITION")


def test_another_patients_booking_is_not_found_and_reception_may_move_any(
    allocator: Allocator, slot: Slot, booking: Booking
) -> None:
    target = later_slot(allocator, slot)
    stranger = reschedule(booking.booking_id, target.slot_id, role="patient", user="someone-else")
    assert (stranger.status, stranger.code) == (404, "NOT_FOUND")
    desk = reschedule(booking.booking_id, target.slot_id, role="reception", user="desk-1")
    assert desk.status == 201 and desk.body["history"][0]["by"] == "desk-1"


def test_an_idempotency_key_with_another_target_is_a_conflict(
    allocator: Allocator, slot: Slot, booking: Booking
) -> None:
    first, second = (
        later_slot(allocator, slot),
        allocator.create_slot(slot.doctor_id, slot.start + timedelta(hours=3), slot.start + timedelta(hours=4)),
    )
    assert reschedule(booking.booking_id, first.slot_id, key="move-1").status == 201
    other = reschedule(booking.booking_id, second.slot_id, key="move-1")
    assert (other.status, other.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert allocator.get_slot(second.slot_id).bookings == ()


@pytest.mark.slow
def test_redis_lost_after_the_first_write_is_503_saying_the_outcome_is_unknown_and_the_repeat_finishes(
    monkeypatch: pytest.MonkeyPatch, private_servers: tuple[LocalServer, LocalServer], soon: datetime
) -> None:
    redis_srv, mongo_srv = private_servers
    point_runtime_at(monkeypatch, redis_srv.url, mongo_srv.url, "opd")
    service = resolver.allocator()
    slot = service.create_slot("dr-outage", soon, soon + timedelta(hours=1))
    target = later_slot(service, slot)
    booking = service.book(slot.slot_id, PATIENT, Source.ONLINE)
    write = SlotStore.replace

    def write_then_lose_redis(store: SlotStore, *args: Any) -> bool:
        written = write(store, *args)
        redis_srv.stop()  # right after the mark reached MongoDB
        monkeypatch.setattr(SlotStore, "replace", write)
        return written

    monkeypatch.setattr(SlotStore, "replace", write_then_lose_redis)
    answer = reschedule(booking.booking_id, target.slot_id)

    new_id = service.get_booking(booking.booking_id).rescheduled_to
    assert new_id is not None and new_id.startswith(f"{target.slot_id}.")
    assert (answer.status, answer.code) == (503, "DEPENDENCY_UNAVAILABLE"), answer.body
    assert answer.details == [
        {"dependency": "redis", "outcome": "UNKNOWN", "bookingId": booking.booking_id, "rescheduledTo": new_id}
    ]
    message = answer.body["error"]["message"]
    assert "outcome is not known yet: repeat the same request to finish it" in message, message
    for name in ("check_in_booking", "cancel_booking"):  # Redis still away: a refusal needs no lock
        refused = call(name, event(name, path={"bookingId": booking.booking_id}, role="reception"))
        assert (refused.status, refused.code) == (409, "INVALID_TRANSITION"), refused.body
        assert refused.details[0]["rescheduledTo"] == new_id
        assert f"is being rescheduled to slot {target.slot_id}" in refused.body["error"]["message"]

    redis_srv.start()
    again = reschedule(booking.booking_id, target.slot_id)
    assert (again.status, again.body["bookingId"], again.body["rescheduledFrom"]) == (201, new_id, booking.booking_id)
    old = service.get_booking(booking.booking_id)
    assert (old.status, old.cancel_reason) == (Status.CANCELLED, "RESCHEDULED")
