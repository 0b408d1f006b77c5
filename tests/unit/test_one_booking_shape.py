"""The contract's Booking is rendered in two places (an answer's pydantic model, an event's detail):
they must say the same thing, field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opd import domain, events
from opd.api.models import BookingOut, SlotOut
from opd.domain import CancelReason, Capacity, Slot, Source, Status
from opd.settings import Settings

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
BEFORE = START - timedelta(hours=1)


def call_next(slot: Slot, at: datetime) -> Slot:
    changed, _, _ = domain.call_next(slot, at, "desk")
    assert changed is not None
    return changed


def a_busy_slot() -> Slot:
    """Bookings in every state the room can leave them in: called, checked in, waitlisted, cancelled, completed."""
    slot = Slot(slot_id="s", doctor_id="dr-1", start=START, end=START + timedelta(hours=1), capacity=Capacity(3, 0, 0))
    for n, source in enumerate([Source.ONLINE, Source.EMERGENCY, Source.WALKIN, Source.PAID, Source.ONLINE]):
        slot, _ = domain.book(
            slot, f"s.{n}", f"p{n}", source, BEFORE, 20, by="desk", waitlist=True, phone="+919876543210"
        )
    for n in (0, 1):
        booking = slot.booking(f"s.{n}")
        assert booking is not None
        slot, _ = domain.move(slot, booking, Status.CHECKED_IN, BEFORE, "desk", 20)
    slot = call_next(slot, START)
    slot = call_next(slot, START + timedelta(minutes=5))
    called = slot.called
    assert called is not None
    slot, _ = domain.skip(slot, called, START + timedelta(minutes=6), "desk", 20)  # a skip on the record
    slot = call_next(slot, START + timedelta(minutes=7))
    third = slot.booking("s.2")
    assert third is not None
    slot, _ = domain.move(slot, third, Status.CANCELLED, START, "p2", 20, CancelReason.PATIENT)
    return slot


def test_an_answer_and_an_event_render_every_booking_alike() -> None:
    slot = a_busy_slot()
    assert {b.status for b in slot.bookings} >= {Status.COMPLETED, Status.CALLED, Status.CANCELLED, Status.BOOKED}
    for booking in domain.answered_all(slot, slot.bookings, START):
        answered = BookingOut.of(booking).model_dump(mode="json", by_alias=True)
        assert events.booking_json(booking) == answered, booking.booking_id


def test_a_slot_renders_alike_too() -> None:
    slot = a_busy_slot()
    snapshot = domain.SlotSnapshot(slot.delayed, slot.delay_minutes, slot.closed, slot.booked, len(slot.waitlist))
    answered = SlotOut.of(slot, Settings(delay_reduction_percent=20)).model_dump(mode="json", by_alias=True)
    assert events.slot_json(slot, snapshot, 20) == answered
