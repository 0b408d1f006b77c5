"""Sessions and leave on real servers: one bulk write for a month of slots, and leave finished by a repeat."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pymongo.collection import Collection

from opd.domain import Capacity, Relayed, SessionPlan, Slot, Source, Status
from opd.errors import DependencyUnavailable
from opd.mongo import Document
from opd.service import Allocator
from opd.store import SlotStore
from tests.support.events import RecordingPublisher
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
    # 496 slots: one read of the starts the doctor has on those days (DAY_FULL), one insert
    assert counter.commands == {"mongo find": 1, "mongo insert": 1}
    counter.commands.clear()
    assert len(counted.open_sessions(doctor_id, plan).existing) == 31 * 16
    # the starts, the insert that found them all, and one read of their ids
    assert counter.commands == {"mongo find": 2, "mongo insert": 1}
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


class StoreLostAtAWrite(SlotStore):
    """MongoDB unreachable for the `lost_at`-th write (1-based), and only for it: nothing of that write is made."""

    def __init__(self, collection: Collection[Document], lost_at: int) -> None:
        super().__init__(collection)
        self.writes, self.lost_at = 0, lost_at

    def replace(self, slot: Slot, read_version: int) -> bool:
        self.writes += 1
        if self.writes == self.lost_at:
            raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")
        return super().replace(slot, read_version)


def test_leave_cut_off_by_mongodb_publishes_what_it_wrote_and_a_repeat_finishes(
    allocator: Allocator, slot_store: SlotStore, bus: RecordingPublisher, doctor_id: str
) -> None:
    day = datetime.now(UTC).date() + timedelta(days=2)
    plan = SessionPlan(day, day, frozenset({day.weekday()}), time(9), time(11), 30, Capacity())
    slots = allocator.open_sessions(doctor_id, plan).created
    booked = [allocator.book(s.slot_id, f"p{n}", Source.ONLINE).booking_id for n, s in enumerate(slots)]
    losing = Allocator(StoreLostAtAWrite(slot_store.collection, 3), allocator.lock, allocator.settings, publisher=bus)
    bus.entries.clear()

    with pytest.raises(DependencyUnavailable):  # 503: the third slot's write never reached MongoDB
        losing.take_leave(doctor_id, day, by="admin")
    assert [allocator.get_slot(s.slot_id).closed for s in slots] == [True, True, False, False]
    assert [allocator.get_booking(b).status for b in booked] == [Status.CANCELLED] * 2 + [Status.BOOKED] * 2
    # What was written is published all the same, before the 503, and marked as published.
    assert sorted((e.event_id, e.detail_type) for e in bus.entries) == sorted(
        (f"{s.slot_id}:2:{seq}", kind) for s in slots[:2] for seq, kind in enumerate(("SlotClosed", "BookingCancelled"))
    )
    marks = allocator.lock.published_marks([s.slot_id for s in slots])
    assert [marks[s.slot_id] for s in slots] == [
        Relayed(through=v) for v in (2, 2, 1, 1)
    ]  # the leave's version; the booking's

    finished = allocator.take_leave(doctor_id, day, by="admin")
    assert [b.booking_id for b in finished.cancelled] == booked[2:]
    assert all(allocator.get_slot(s.slot_id).closed for s in slots)
