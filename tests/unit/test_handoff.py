"""The hand-off of a change's events to the publisher, and the publisher's loop: on the in-memory fakes, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opd.domain import Relayed, Source
from opd.errors import DependencyUnavailable
from opd.eventbridge import Entry
from opd.handoff import HandedOff
from opd.service import Allocator
from opd.settings import Settings
from tests.support.events import RecordingPublisher
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)
NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


def allocator(bus: RecordingPublisher) -> FakeAllocator:
    return Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW, publisher=bus)


def test_a_handed_off_change_reads_back_as_it_was_written() -> None:
    entry = Entry("slot-1:4:0", "BookingCreated", '{"eventId":"slot-1:4:0","note":"क़"}', NOW)
    change = HandedOff("slot-1", 4, False, (entry,))
    assert HandedOff.decode(change.encode()) == change
    assert HandedOff.decode(change.encode().encode()) == change  # as Redis gives it back: bytes
    assert change.relayed() == Relayed(versions=frozenset({4}))  # something older waited: only this version
    assert HandedOff("slot-1", 4, True, ()).relayed() == Relayed(through=4)


def test_what_cannot_be_read_is_left_to_the_relay() -> None:
    assert HandedOff.decode(b"not json") is None
    assert HandedOff.decode(b'{"slot": "s", "version": 1}') is None  # a part missing
    assert HandedOff.decode(b'{"slot": "s", "version": 1, "nothingOlder": true, "entries": [["a"]]}') is None


def test_each_change_hands_off_its_own_events_with_its_release_and_the_request_never_meets_the_bus() -> None:
    bus = RecordingPublisher()
    a = allocator(bus)
    slot = a.create_slot("dr-rao", START, START + timedelta(hours=1))  # new slots publish their own, in a batch
    calls = bus.calls
    first = a.book(slot.slot_id, "p1", Source.ONLINE)
    a.check_in(first.booking_id)
    assert bus.calls == calls  # no PutEvents in a request
    changes = a.lock.take(10, 0)
    assert [(c.version, [e.detail_type for e in c.entries]) for c in changes] == [
        (1, ["BookingCreated"]),
        (2, ["BookingCheckedIn"]),
    ]
    assert [c.nothing_older for c in changes] == [True, False]  # version 1's event still waited when 2 was written
    assert a.relay.publish_handed_off(changes) == 2 and bus.calls == calls + 1  # one PutEvents for the batch
    assert a.lock.marks[slot.slot_id] == Relayed(through=2)
    a.book(slot.slot_id, "p2", Source.ONLINE)
    assert [e.slot_version for e in a.store.slots[slot.slot_id].outbox] == [3]  # the next write dropped 1 and 2


def test_without_a_bus_nothing_is_handed_off() -> None:
    a = Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW)
    slot = a.create_slot("dr-rao", START, START + timedelta(hours=1))
    a.book(slot.slot_id, "p1", Source.ONLINE)
    assert a.lock.handed_off == []  # the events wait in the outbox, for a relay with a bus
    assert [e.detail_type.value for e in a.store.slots[slot.slot_id].outbox] == ["SlotCreated", "BookingCreated"]


class Clock:
    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def __call__(self) -> float:
        return self.left


def test_the_publisher_publishes_as_changes_come_until_its_time_is_nearly_up() -> None:
    bus = RecordingPublisher()
    a = allocator(bus)
    slot = a.create_slot("dr-rao", START, START + timedelta(hours=1))
    for n in range(3):
        a.book(slot.slot_id, f"p{n}", Source.ONLINE)
    time_left, asked = Clock(30.0), []

    def take(limit: int, wait_s: float) -> list[HandedOff]:
        asked.append(wait_s)
        found = a.lock.take(2, 0)  # two at a time: the loop goes round for the third
        if not found:
            time_left.left = 3.0  # nothing more came; the run's time is down to its reserve
        return found

    assert a.relay.listen(take, time_left, reserve_s=3.0, max_wait_s=20.0) == 3
    assert asked == [20.0, 20.0, 20.0]  # never longer than max_wait_s, nor past the reserve
    assert [e.detail_type for e in bus.entries[1:]] == ["BookingCreated"] * 3
    assert a.lock.marks[slot.slot_id] == Relayed(through=3)


def test_a_bus_that_fails_lets_changes_go_unpublished_for_a_while_and_never_stops_the_publisher() -> None:
    bus = RecordingPublisher()
    a = allocator(bus)
    slot = a.create_slot("dr-rao", START, START + timedelta(hours=1))
    bus.down = True
    a.book(slot.slot_id, "p1", Source.ONLINE)
    calls = bus.calls
    assert a.relay.publish_handed_off(a.lock.take(10, 0)) == 0 and bus.calls == calls + 1  # tried once
    a.book(slot.slot_id, "p2", Source.ONLINE)
    assert a.relay.publish_handed_off(a.lock.take(10, 0)) == 0 and bus.calls == calls + 1  # paused: not tried
    assert [e.slot_version for e in a.store.slots[slot.slot_id].outbox] == [1, 2]  # kept for the relay
    bus.down = False
    assert a.relay_events().published == 2


def test_a_redis_that_cannot_be_read_never_stops_the_publisher() -> None:
    a = allocator(RecordingPublisher())
    time_left = Clock(3.5)

    def take(limit: int, wait_s: float) -> list[HandedOff]:
        time_left.left = 3.0
        raise DependencyUnavailable("redis", "Redis unreachable: ConnectionError")

    assert a.relay.listen(take, time_left, reserve_s=3.0) == 0
