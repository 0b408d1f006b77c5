"""Sessions and leave on real servers: one bulk write for a month of slots, and leave finished by a repeat."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from opd.domain import Capacity, SessionPlan, Source, Status
from opd.service import Allocator
from tests.support.roundtrips import MongoCommandCounter


def test_a_session_is_one_bulk_insert_and_a_repeat_one_more_read(allocator: Allocator, doctor_id: str) -> None:
    first = datetime.now(UTC).date() + timedelta(days=7)
    plan = SessionPlan(first, first + timedelta(days=27), frozenset({0, 2}), time(9), time(13), 15, Capacity())
    opened = allocator.open_sessions(doctor_id, plan)
    assert len(opened.created) == 8 * 16 and opened.existing == []
    stored = allocator.doctor_slots(doctor_id, opened.created[0].start.date())
    assert [s.slot_id for s in stored] == [s.slot_id for s in opened.created[:16]]

    again = allocator.open_sessions(doctor_id, plan)
    assert again.created == [] and again.existing == [s.slot_id for s in opened.created]


def test_round_trips_of_a_session(allocator: Allocator, doctor_id: str, mongo_uri: str, database_name: str) -> None:
    from opd import store as store_module
    from opd.store import SlotStore

    counter = MongoCommandCounter()
    client = store_module.connect(mongo_uri, event_listeners=[counter])
    counted = Allocator(SlotStore(client[database_name]["slots"]), allocator.lock, allocator.settings)
    first = datetime.now(UTC).date() + timedelta(days=1)
    every_day = frozenset(range(7))
    plan = SessionPlan(first, first + timedelta(days=30), every_day, time(8), time(12), 15, Capacity())
    counter.commands.clear()
    assert len(counted.open_sessions(doctor_id, plan).created) == 31 * 16
    assert sum(counter.commands.values()) == 1  # 496 slots, one insert
    counter.commands.clear()
    assert len(counted.open_sessions(doctor_id, plan).existing) == 31 * 16
    assert sum(counter.commands.values()) == 2  # the insert that found them all, and one read of their ids
    client.close()


def test_leave_closes_a_day_once(allocator: Allocator, doctor_id: str) -> None:
    day = datetime.now(UTC).date() + timedelta(days=2)
    plan = SessionPlan(day, day, frozenset({day.weekday()}), time(9), time(10), 30, Capacity())
    slots = allocator.open_sessions(doctor_id, plan).created
    booked = [allocator.book(s.slot_id, f"p{n}", Source.ONLINE) for n, s in enumerate(slots)]
    taken = allocator.take_leave(doctor_id, day, by="admin")
    assert (taken.slots, len(taken.cancelled)) == (2, 2)
    assert all(allocator.get_booking(b.booking_id).status is Status.CANCELLED for b in booked)
    assert allocator.take_leave(doctor_id, day, by="admin").cancelled == []
