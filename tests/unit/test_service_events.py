"""Every change the service makes publishes exactly its events, after its one write and off the lock;
what the bus misses waits in the outbox (past SPILL_AT, in the backlog) for the relay. On the in-memory
fakes: no sockets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from opd.domain import (
    MAX_EVENTS_PER_CHANGE,
    SPILL_AT,
    CancelReason,
    Capacity,
    Relayed,
    SessionPlan,
    Slot,
    Source,
    Status,
)
from opd.errors import InvalidTransition
from opd.service import Allocator
from opd.settings import Settings
from tests.support.events import RecordingPublisher
from tests.support.handoff import publish_at_once
from tests.unit.fakes import FakeEventBacklog, FakeSlotLock, FakeSlotStore

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)
END = START + timedelta(hours=1)
NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)
PHONE = "+919876543210"

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


@pytest.fixture
def bus() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def allocator(bus: RecordingPublisher) -> FakeAllocator:
    return publish_at_once(Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW, publisher=bus))


def published_by(bus: RecordingPublisher, act: object) -> list[str]:
    """What one act put on the bus (call it as `published_by(bus, lambda: ...)`)."""
    before = len(bus.entries)
    assert callable(act)
    act()
    return bus.types[before:]


def test_each_operation_publishes_exactly_its_events(allocator: FakeAllocator, bus: RecordingPublisher) -> None:
    a = allocator
    slot: Slot = a.create_slot("dr-rao", START, END, Capacity(2, 0, 0))
    assert bus.types == ["SlotCreated"]
    first = a.book(slot.slot_id, "p1", Source.ONLINE, phone=PHONE)
    second = a.book(slot.slot_id, "p2", Source.WALKIN)
    assert bus.types[1:] == ["BookingCreated", "BookingCreated"]
    assert published_by(bus, lambda: a.book(slot.slot_id, "p3", Source.ONLINE, waitlist=True)) == ["BookingWaitlisted"]
    assert published_by(bus, lambda: a.check_in(first.booking_id)) == ["BookingCheckedIn"]
    assert published_by(bus, lambda: a.call_next(slot.slot_id, "desk")) == ["BookingCalled"]
    assert published_by(bus, lambda: a.skip(first.booking_id, "desk")) == ["BookingSkipped"]
    assert published_by(bus, lambda: a.call_next(slot.slot_id, "desk")) == ["BookingCalled"]
    assert published_by(bus, lambda: a.complete(first.booking_id)) == ["BookingCompleted"]
    assert published_by(bus, lambda: a.cancel(second.booking_id)) == ["BookingCancelled", "BookingPromoted"]
    assert published_by(bus, lambda: a.set_delay(slot.slot_id, True, 20)) == ["SlotDelayChanged"]
    assert published_by(bus, lambda: a.set_delay(slot.slot_id, True, 20)) == []  # the same delay: no change
    later = a.create_slot("dr-rao", START + timedelta(hours=2), END + timedelta(hours=2))
    third = a.book(later.slot_id, "p4", Source.ONLINE)
    assert published_by(bus, lambda: a.mark_no_show(third.booking_id)) == ["BookingNoShow"]
    a.book(later.slot_id, "p5", Source.ONLINE)
    a.book(later.slot_id, "p6", Source.ONLINE)
    swept = published_by(bus, lambda: a.sweep_no_shows(now=END + timedelta(hours=3)))
    assert swept == ["BookingNoShow"] * 3  # p3 (promoted: BOOKED) in the first slot, p5 and p6 in the other


def test_leave_and_sessions_publish_theirs(allocator: FakeAllocator, bus: RecordingPublisher) -> None:
    plan = SessionPlan(date(2030, 1, 7), date(2030, 1, 7), frozenset({0}), time(9), time(10), 30, Capacity())
    opened = allocator.open_sessions("dr-sen", plan)
    assert bus.types == ["SlotCreated"] * 2
    assert {d["slotId"] for d in bus.details()} == {s.slot_id for s in opened.created}
    allocator.book(opened.created[0].slot_id, "p1", Source.ONLINE)
    assert allocator.open_sessions("dr-sen", plan).created == [] and bus.types.count("SlotCreated") == 2
    taken = published_by(bus, lambda: allocator.take_leave("dr-sen", date(2030, 1, 7), "admin"))
    assert taken == ["SlotClosed", "BookingCancelled", "SlotClosed"]
    assert bus.details("BookingCancelled")[0]["booking"]["cancelReason"] == CancelReason.DOCTOR_UNAVAILABLE.value


def test_a_booking_costs_one_put_events_and_its_event_says_what_was_answered(
    allocator: FakeAllocator, bus: RecordingPublisher
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    calls = bus.calls
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE, phone=PHONE)
    assert bus.calls == calls + 1
    (detail,) = bus.details("BookingCreated")
    assert detail["eventId"] == f"{slot.slot_id}:1:0" and detail["slotVersion"] == 1
    assert detail["booking"]["bookingId"] == booking.booking_id and detail["booking"]["phone"] == PHONE
    assert detail["booking"]["estimatedCallAt"] == "2030-01-07T03:30:00Z" and detail["booking"]["token"] == 1
    assert detail["slot"]["booked"] == 1


def test_the_next_write_drops_what_the_last_one_published(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=0)  # SlotCreated is out
    first = allocator.book(slot.slot_id, "p1", Source.ONLINE)
    assert [e.detail_type for e in allocator.store.slots[slot.slot_id].outbox] == ["BookingCreated"]
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=1)  # recorded after the release
    allocator.check_in(first.booking_id)
    assert [e.event_id for e in allocator.store.slots[slot.slot_id].outbox] == [f"{slot.slot_id}:2:0"]
    report = allocator.relay_events()  # the marker says it is out: the relay only prunes
    assert (report.published, report.pruned) == (0, 1) and allocator.store.slots[slot.slot_id].outbox == ()


def test_a_bus_that_is_down_never_fails_a_change_and_the_relay_publishes_it_later(
    allocator: FakeAllocator, bus: RecordingPublisher
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    bus.down = True
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE)  # answered: written, not yet published
    assert booking.status is Status.BOOKED and bus.types == ["SlotCreated"]
    allocator.check_in(booking.booking_id)  # the request hands its events off; only the publisher meets the bus
    assert [e.detail_type for e in allocator.store.slots[slot.slot_id].outbox] == ["BookingCreated", "BookingCheckedIn"]
    with pytest.raises(Exception, match="unreachable"):
        allocator.relay_events()  # the relay says so: it is what is left to publish them
    bus.down = False
    report = allocator.relay_events()
    assert (report.published, report.pending, report.pruned) == (2, 0, 1)
    assert bus.types == ["SlotCreated", "BookingCreated", "BookingCheckedIn"]
    assert allocator.store.slots[slot.slot_id].outbox == ()
    assert allocator.relay_events().published == 0  # nothing twice


def test_an_event_the_bus_refuses_stays_for_the_relay_with_those_after_it(
    allocator: FakeAllocator, bus: RecordingPublisher
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    bus.refuse = {"BookingCreated"}
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE)
    allocator.check_in(booking.booking_id)  # published after a version that is not: listed above it
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=0, versions=frozenset({2}))
    bus.refuse = set()
    assert allocator.relay_events().published == 1  # BookingCreated; BookingCheckedIn is not sent twice
    assert bus.types.count("BookingCreated") == 1 and bus.types.count("BookingCheckedIn") == 1
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=2)
    assert allocator.store.slots[slot.slot_id].outbox == ()


def test_on_a_hot_slot_each_writer_hands_off_only_its_own_events(
    allocator: FakeAllocator, bus: RecordingPublisher
) -> None:
    """Seen in the 10 x 20 rush: the next writer took the lock before the last one had recorded what it
    published, found its events still in the outbox, and published them again (287 entries for 129 events)."""
    slot = allocator.create_slot("dr-rao", START, END)
    allocator.lock.publish = None  # the publisher is slow: both changes wait in the hand-off list
    allocator.book(slot.slot_id, "p1", Source.ONLINE)
    allocator.book(slot.slot_id, "p2", Source.ONLINE)
    changes = allocator.lock.take(10, 0)
    # p1's event, still in the outbox p2's writer wrote, is not its to hand off
    assert [[e.event_id for e in c.entries] for c in changes] == [[f"{slot.slot_id}:1:0"], [f"{slot.slot_id}:2:0"]]
    assert [c.nothing_older for c in changes] == [True, False]
    assert allocator.relay.publish_handed_off(changes) == 2
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=2)
    publish_at_once(allocator)
    allocator.book(slot.slot_id, "p3", Source.ONLINE)
    assert [e.event_id for e in allocator.store.slots[slot.slot_id].outbox] == [f"{slot.slot_id}:3:0"]
    assert len(bus.entries) == len({e.event_id for e in bus.entries}) == 4


def test_a_bus_down_all_day_refuses_no_change_and_every_event_is_delivered_once_it_is_back(
    bus: RecordingPublisher,
) -> None:
    """Red team, v2: with PutEvents failing, a 30-place slot took 99 changes and then answered 503
    "events backlog" to every booking, check-in, cancel and call-next."""
    backlog = FakeEventBacklog()
    allocator = publish_at_once(
        Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), lambda: NOW, publisher=bus, backlog=backlog)
    )
    slot = allocator.create_slot("dr-rao", START, END, Capacity(30, 0, 0))
    bus.down = True
    made = [allocator.book(slot.slot_id, f"p{n}", Source.ONLINE, phone=PHONE) for n in range(30)]
    for booking in made:
        allocator.check_in(booking.booking_id)
    for minutes in range(1, 250):  # 30 + 30 + 249 changes: three times the old refusal's bound
        allocator.set_delay(slot.slot_id, minutes % 2 == 1, minutes)
    for _ in made:
        allocator.call_next(slot.slot_id, "desk")
    stored = allocator.store.slots[slot.slot_id]
    changes = stored.version
    assert changes > 300 and bus.types == ["SlotCreated"]  # published before the bus went down
    assert len(stored.outbox) < SPILL_AT + MAX_EVENTS_PER_CHANGE  # the document stays bounded
    assert backlog.entries and backlog.adds < changes / 10  # moved in batches, not one by one
    bus.down = False
    report = allocator.relay_events()
    assert report.finished and 0 < report.from_backlog <= report.published == len(bus.entries) - 1
    ids = [e.event_id for e in bus.entries]
    expected = {f"{slot.slot_id}:{v}:0" for v in range(changes + 1)}  # every change's first event
    assert set(ids) >= expected and backlog.entries == {}
    assert len(ids) == len(set(ids))  # each eventId once: what was moved was dropped from the outbox
    assert allocator.store.slots[slot.slot_id].outbox == () or allocator.relay_events().published == 0


def test_publishing_never_holds_the_slots_lock(allocator: FakeAllocator, bus: RecordingPublisher) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    held_while_publishing: list[bool] = []
    real_publish = bus.publish

    def watching(entries: object) -> set[str]:
        held_while_publishing.append(slot.slot_id in allocator.lock.owners)
        return real_publish(entries)  # type: ignore[arg-type]

    bus.publish = watching  # type: ignore[method-assign]
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE)
    allocator.check_in(booking.booking_id)
    assert held_while_publishing == [False, False]
    assert allocator.lock.marks[slot.slot_id] == Relayed(through=2)  # what was published is recorded all the same


def test_the_relay_never_undoes_a_change_made_while_it_published(
    allocator: FakeAllocator, bus: RecordingPublisher
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    bus.down = True
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE)
    bus.down = False
    real_publish = bus.publish

    def meanwhile(entries: object) -> set[str]:
        bus.publish = real_publish  # type: ignore[method-assign]
        allocator.relay._paused_until = 0.0
        allocator.check_in(booking.booking_id)  # a request writes while the relay is publishing
        return real_publish(entries)  # type: ignore[arg-type]

    bus.publish = meanwhile  # type: ignore[method-assign]
    report = allocator.relay_events()
    assert report.published == 1 and report.pruned == 0  # the slot moved on: not pruned by the relay
    stored = allocator.store.slots[slot.slot_id]
    assert stored.bookings[0].status is Status.CHECKED_IN  # the change stands
    assert bus.types.count("BookingCreated") == 1  # the request published its own event only: once each
    assert [e.detail_type for e in stored.outbox] == ["BookingCreated", "BookingCheckedIn"]
    assert allocator.relay_events().pruned == 1 and allocator.store.slots[slot.slot_id].outbox == ()


def test_a_lost_marker_only_publishes_again(allocator: FakeAllocator, bus: RecordingPublisher) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    allocator.book(slot.slot_id, "p1", Source.ONLINE)
    allocator.lock.marks.clear()  # Redis lost it
    assert allocator.relay_events().published == 1  # what the outbox still holds goes again, same eventId
    assert [d["eventId"] for d in bus.details()] == [
        f"{slot.slot_id}:0:0",
        f"{slot.slot_id}:1:0",
        f"{slot.slot_id}:1:0",
    ]


def test_without_a_bus_events_wait_in_the_outbox() -> None:
    allocator = Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW)
    slot = allocator.create_slot("dr-rao", START, END)
    allocator.book(slot.slot_id, "p1", Source.ONLINE)
    assert len(allocator.store.slots[slot.slot_id].outbox) == 2
    with pytest.raises(Exception, match="EVENT_BUS_NAME"):
        allocator.relay_events()


def test_a_repeat_that_changes_nothing_publishes_nothing(allocator: FakeAllocator, bus: RecordingPublisher) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    booking = allocator.book(slot.slot_id, "p1", Source.ONLINE)
    count = len(bus.entries)
    with pytest.raises(InvalidTransition):
        allocator.complete(booking.booking_id)
    allocator.sweep_no_shows(now=NOW)
    assert len(bus.entries) == count
