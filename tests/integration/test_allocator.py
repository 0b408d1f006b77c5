"""The allocator's operations on real redis-server and nx-27017 (or MONGODB_URI / REDIS_URL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from opd.domain import Capacity, Source, Status, Tier
from opd.errors import DuplicateBooking, InvalidTransition, NotFound, SlotClosed, SlotExists, SlotFull
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore

IST = timezone(timedelta(hours=5, minutes=30))


def stored_counts_agree(store: SlotStore, slot_id: str) -> None:
    """The invariant every write keeps: the stored count equals the active bookings beside it."""
    doc = store.collection.find_one({"_id": slot_id})
    assert doc is not None
    active = [b for b in doc["bookings"] if b["status"] in ("BOOKED", "CHECKED_IN")]
    assert doc["booked"] == len(active)
    assert doc["awaitingArrival"] == any(b["status"] == "BOOKED" for b in doc["bookings"])
    tokens = [b["token"] for b in doc["bookings"]]
    assert tokens == list(range(1, len(tokens) + 1)) and doc["nextToken"] == len(tokens) + 1


def test_create_and_read_a_slot(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    made = allocator.create_slot(doctor_id, soon.astimezone(IST), soon + timedelta(hours=1), Capacity(base=6))
    read = allocator.get_slot(made.slot_id)
    assert read == made
    assert read.start.tzinfo is not None and read.start == soon
    assert read.limits(20) == {Tier.STANDARD: 6, Tier.PREMIUM: 8, Tier.CRITICAL: 11}


def test_same_doctor_and_instant_is_refused_whatever_the_offset(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    allocator.create_slot(doctor_id, soon, soon + timedelta(minutes=30))
    with pytest.raises(SlotExists):
        allocator.create_slot(doctor_id, soon.astimezone(IST), soon + timedelta(minutes=45))
    allocator.create_slot("other-doctor-" + doctor_id, soon, soon + timedelta(minutes=30))


def test_unknown_slot_and_booking_are_not_found(allocator: Allocator) -> None:
    with pytest.raises(NotFound):
        allocator.get_slot("slot-missing")
    for booking_id in ("slot-missing.abc", "no-dot-at-all"):
        with pytest.raises(NotFound):
            allocator.get_booking(booking_id)
        with pytest.raises(NotFound):
            allocator.cancel(booking_id)


def test_a_doctors_slots_for_a_clinic_day(
    slot_store: SlotStore, allocator: Allocator, doctor_id: str, redis_client: object
) -> None:
    # In IST the clinic day 2099-01-02 runs from 2099-01-01T18:30Z to 2099-01-02T18:30Z.
    ist_allocator = Allocator(slot_store, allocator.lock, Settings(clinic_time_zone="Asia/Kolkata"))
    starts = [datetime(2099, 1, 1, 18, 0, tzinfo=UTC), datetime(2099, 1, 1, 18, 30, tzinfo=UTC)]
    starts += [datetime(2099, 1, 2, 9, 0, tzinfo=UTC), datetime(2099, 1, 2, 18, 30, tzinfo=UTC)]
    for start in reversed(starts):
        ist_allocator.create_slot(doctor_id, start, start + timedelta(minutes=30))
    day = [s.start for s in ist_allocator.doctor_slots(doctor_id, date(2099, 1, 2))]
    assert day == starts[1:3]
    assert [s.start for s in allocator.doctor_slots(doctor_id, date(2099, 1, 2))] == starts[2:]


def test_book_to_every_limit_then_free_a_place(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    plan = [Source.ONLINE] * 5 + [Source.WALKIN] * 5 + [Source.PAID, Source.FOLLOWUP] + [Source.EMERGENCY] * 3
    made = [allocator.book(slot.slot_id, f"patient-{i}", source) for i, source in enumerate(plan)]
    assert [b.token for b in made] == list(range(1, 16))
    for source in Source:
        with pytest.raises(SlotFull):
            allocator.book(slot.slot_id, "one-more", source)

    cancelled = allocator.cancel(made[0].booking_id)
    assert cancelled.status is Status.CANCELLED
    assert allocator.get_slot(slot.slot_id).booked == 14
    walk_in = allocator.book(slot.slot_id, "walk-in-late", Source.EMERGENCY)
    assert walk_in.token == 16
    stored_counts_agree(slot_store, slot.slot_id)


def test_booking_lifecycle_and_invalid_transitions(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    booking = allocator.book(slot.slot_id, "patient-1", Source.ONLINE)
    assert allocator.get_booking(booking.booking_id) == booking
    with pytest.raises(DuplicateBooking):
        allocator.book(slot.slot_id, "patient-1", Source.PAID)

    assert allocator.check_in(booking.booking_id).status is Status.CHECKED_IN
    with pytest.raises(InvalidTransition):  # (a CHECKED_IN patient who leaves may be cancelled: contract v3)
        allocator.mark_no_show(booking.booking_id)
    assert allocator.complete(booking.booking_id).status is Status.COMPLETED
    assert allocator.get_slot(slot.slot_id).booked == 1  # a finished consultation keeps its place

    other = allocator.book(slot.slot_id, "patient-2", Source.WALKIN)
    assert allocator.mark_no_show(other.booking_id).status is Status.NO_SHOW
    with pytest.raises(InvalidTransition):
        allocator.cancel(other.booking_id)


def test_delay_cuts_new_standard_bookings_only(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    for i in range(9):
        allocator.book(slot.slot_id, f"p{i}", Source.ONLINE)
    delayed = allocator.set_delay(slot.slot_id, True, 25)
    assert (delayed.delayed, delayed.delay_minutes, delayed.booked) == (True, 25, 9)
    with pytest.raises(SlotFull) as refused:
        allocator.book(slot.slot_id, "late", Source.ONLINE)
    assert refused.value.details == [{"tier": "STANDARD", "limit": 8, "booked": 9}]
    assert allocator.book(slot.slot_id, "paid", Source.PAID).token == 10
    cleared = allocator.set_delay(slot.slot_id, False)
    assert (cleared.delayed, cleared.delay_minutes) == (False, 0)
    assert allocator.get_slot(slot.slot_id).available(20)[Tier.STANDARD] == 0  # 10 booked, base 10


def test_closed_slot_refuses_bookings(slot_store: SlotStore, allocator: Allocator, doctor_id: str) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    slot = allocator.create_slot(doctor_id, start, start + timedelta(minutes=10))
    after_end = Allocator(slot_store, allocator.lock, allocator.settings, clock=lambda: start + timedelta(hours=1))
    with pytest.raises(SlotClosed):
        after_end.book(slot.slot_id, "too-late", Source.WALKIN)


def test_queue_is_in_call_order(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    sources = [Source.ONLINE, Source.EMERGENCY, Source.PAID, Source.WALKIN, Source.EMERGENCY]
    made = [allocator.book(slot.slot_id, f"p{i}", s) for i, s in enumerate(sources)]
    allocator.cancel(made[2].booking_id)
    assert [b.token for b in allocator.queue(slot.slot_id)] == [2, 5, 1, 4]


def test_sweep_marks_booked_past_grace_and_is_idempotent(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    early = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    later = allocator.create_slot(doctor_id, soon + timedelta(hours=1), soon + timedelta(hours=2))
    waiting = [allocator.book(early.slot_id, f"p{i}", Source.ONLINE) for i in range(3)]
    allocator.check_in(waiting[0].booking_id)
    allocator.book(later.slot_id, "p-later", Source.ONLINE)

    assert allocator.sweep_no_shows(now=soon + timedelta(minutes=14, seconds=59)).marked == 0
    report = allocator.sweep_no_shows(now=soon + timedelta(minutes=15))
    assert (report.marked, report.slots, report.finished) == (2, 1, True)
    assert allocator.get_booking(waiting[0].booking_id).status is Status.CHECKED_IN
    assert allocator.get_slot(early.slot_id).booked == 1
    assert allocator.get_slot(later.slot_id).booked == 1
    assert allocator.sweep_no_shows(now=soon + timedelta(minutes=15)).marked == 0
    stored_counts_agree(slot_store, early.slot_id)


def test_sweep_stops_before_time_runs_out(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    for hour in range(3):
        slot = allocator.create_slot(doctor_id, soon + timedelta(hours=hour), soon + timedelta(hours=hour, minutes=30))
        allocator.book(slot.slot_id, "p", Source.ONLINE)
    budget = iter([10.0, 10.0, 0.5])  # seconds left as the run goes: the third slot must wait
    partial = allocator.sweep_no_shows(now=soon + timedelta(hours=5), time_left=lambda: next(budget))
    assert (partial.marked, partial.finished) == (2, False)
    rest = allocator.sweep_no_shows(now=soon + timedelta(hours=5))
    assert (rest.marked, rest.finished) == (1, True)
