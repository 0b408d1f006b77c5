"""Finished bookings leave their slot for the archive, and everything that read them still does.

Red team, v2: after 150 cancelled waitlist entries a slot refused every booking with 409 SLOT_FULL
"holds its maximum of 150 bookings" while a place was free. On the in-memory fakes: no sockets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opd import domain
from opd.domain import ARCHIVE_AT, Booking, CancelReason, Capacity, Event, EventType, Slot, Source, Status
from opd.errors import DuplicateBooking, IdempotencyConflict, InvalidTransition, NotFound
from opd.service import Allocator, RequestKey, reads
from opd.settings import Settings
from tests.support.events import RecordingPublisher
from tests.support.handoff import publish_at_once
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

NOW = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)
START = NOW + timedelta(hours=2)

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


@pytest.fixture
def bus() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def allocator(bus: RecordingPublisher) -> FakeAllocator:
    return publish_at_once(Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW, publisher=bus))


def full_slot(allocator: FakeAllocator, places: int = 2) -> Slot:
    slot = allocator.create_slot("dr-rao", START, START + timedelta(hours=1), Capacity(places, 0, 0))
    for n in range(places):
        allocator.book(slot.slot_id, f"holder-{n}", Source.WALKIN)
    return slot


def test_a_slot_churned_by_1000_waitlist_joins_and_cancels_still_books_its_free_place(
    allocator: FakeAllocator,
) -> None:
    slot = full_slot(allocator)
    joined = []
    for n in range(1000):
        waiting = allocator.book(slot.slot_id, f"w-{n}", Source.ONLINE, waitlist=True)
        assert waiting.status is Status.WAITLISTED
        joined.append(allocator.cancel(waiting.booking_id, reason=CancelReason.PATIENT).booking_id)
    stored = allocator.store.slots[slot.slot_id]
    assert len(stored.bookings) < 2 + 2 * ARCHIVE_AT  # the holders, and what waits for the next archiving write
    assert allocator.store.archive.adds < 1000 / ARCHIVE_AT + 1  # ten bookings to an insert

    allocator.cancel(allocator.queue(slot.slot_id)[0].booking_id)  # a place comes free
    booked = allocator.book(slot.slot_id, "latecomer", Source.WALKIN)
    assert booked.status is Status.BOOKED and booked.token == 3

    # The archived ones are still what they were, to anyone who asks.
    first = allocator.get_booking(joined[0])
    assert (first.status, first.cancel_reason, first.patient_id) == (Status.CANCELLED, CancelReason.PATIENT, "w-0")
    assert allocator.store.slots[slot.slot_id].booking(joined[0]) is None
    with pytest.raises(InvalidTransition):  # 409, as for a cancelled booking in its slot, not 404
        allocator.cancel(joined[0])
    with pytest.raises(NotFound):
        allocator.get_booking(f"{slot.slot_id}.000000000000deadbeef")


def test_the_3_rebook_rule_counts_the_bookings_that_went_to_the_archive(allocator: FakeAllocator) -> None:
    slot = full_slot(allocator)
    asked = 0
    real = allocator.store.archive.of_patient

    def counted(slot_id: str, patient_id: str) -> list[domain.Booking]:
        nonlocal asked
        asked += 1
        return real(slot_id, patient_id)

    allocator.store.archive.of_patient = counted  # type: ignore[method-assign]
    for _ in range(1 + domain.MAX_REBOOKINGS):  # the first booking and three more, each cancelled, each archived
        allocator.cancel(allocator.book(slot.slot_id, "asha", Source.ONLINE, waitlist=True).booking_id)
        for n in range(ARCHIVE_AT):  # churned by others until asha's goes to the archive
            allocator.cancel(allocator.book(slot.slot_id, f"o-{asked}-{n}", Source.ONLINE, waitlist=True).booking_id)
        assert not any(b.patient_id == "asha" for b in allocator.store.slots[slot.slot_id].bookings)
    with pytest.raises(DuplicateBooking) as refused:
        allocator.book(slot.slot_id, "asha", Source.ONLINE, waitlist=True)
    assert refused.value.details == [{"patientId": "asha", "bookings": 4, "maxRebookings": 3}]
    others = asked
    allocator.book(slot.slot_id, "someone-new", Source.ONLINE, waitlist=True)
    assert asked == others  # the slot's filter has not seen them: the archive is not asked


def test_a_keyed_booking_that_went_to_the_archive_answers_its_repeat_and_its_conflict(
    allocator: FakeAllocator,
) -> None:
    slot = full_slot(allocator)
    key = RequestKey("caller-key", "body-hash")
    first = allocator.book(slot.slot_id, "asha", Source.ONLINE, key=key, waitlist=True)
    allocator.cancel(first.booking_id, reason=CancelReason.PATIENT)
    for n in range(ARCHIVE_AT):
        allocator.cancel(allocator.book(slot.slot_id, f"o-{n}", Source.ONLINE, waitlist=True).booking_id)
    assert allocator.store.slots[slot.slot_id].booking(first.booking_id) is None
    again = allocator.book_once(slot.slot_id, "asha", Source.ONLINE, key, domain.BookingOptions(waitlist=True))
    assert again.replayed and again.booking.booking_id == first.booking_id
    assert again.booking.status is Status.WAITLISTED  # as first answered
    allocator.lock.records.clear()  # Redis forgot the key's record: the archived booking still knows its body
    with pytest.raises(IdempotencyConflict):
        allocator.book(slot.slot_id, "asha", Source.ONLINE, key=replace(key, body="another-body"), waitlist=True)


def finished(count: int) -> Slot:
    """A slot holding `count` cancelled bookings, of patients p0, p1, ..., and no events."""
    slot = domain.new_slot("slot-1", "dr-rao", START, START + timedelta(hours=1), Capacity(2, 0, 0), NOW)
    gone = tuple(
        Booking(f"slot-1.{n:04d}", "slot-1", "dr-rao", f"p{n}", Source.ONLINE, None, Status.CANCELLED, NOW, NOW)
        for n in range(count)
    )
    return replace(slot, bookings=gone)


def test_a_finished_booking_stays_while_an_event_still_needs_it() -> None:
    slot = finished(ARCHIVE_AT + 1)
    assert domain.due_for_archive(slot) == list(slot.bookings)  # no events waiting: all of them, in order
    own, recipient, told = slot.bookings[0], slot.bookings[1], domain.slot_snapshot(slot)
    waiting = (
        Event(EventType.BOOKING_CANCELLED, NOW, "slot-1", 1, 0, told, booking_id=own.booking_id),
        Event(EventType.SLOT_DELAY_CHANGED, NOW, "slot-1", 2, 0, replace(told, recipients=(recipient.booking_id,))),
    )
    assert domain.archivable(replace(slot, outbox=waiting)) == list(slot.bookings[2:])
    assert domain.due_for_archive(replace(slot, outbox=waiting)) == []  # fewer than ARCHIVE_AT may go
    assert domain.due_for_archive(replace(slot, bookings=slot.bookings[: ARCHIVE_AT - 1])) == []


def test_the_slots_filter_never_forgets_a_patient_whose_booking_went() -> None:
    slot = finished(300)
    assert not domain.may_have_archived(slot, "p1")  # an empty filter: nobody
    gone = domain.without_archived(slot, slot.bookings[:200])
    assert [b.booking_id for b in gone.bookings] == [b.booking_id for b in slot.bookings[200:]]
    assert all(domain.may_have_archived(gone, f"p{n}") for n in range(200))
    wrong = sum(domain.may_have_archived(gone, f"q{n}") for n in range(10_000))
    assert wrong < 100  # about 1 in 1,000 after 200: each costs one query, never a wrong answer
    again = domain.without_archived(gone, slot.bookings[200:])  # the filter only gains
    assert all(domain.may_have_archived(again, f"p{n}") for n in range(300)) and again.bookings == ()


def test_a_patients_list_merges_the_archive_in_its_order_across_pages(
    allocator: FakeAllocator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "BOOKINGS_PAGE", 3)  # pages of 3, so one ends on an archived booking
    monkeypatch.setattr(reads, "BOOKINGS_PAGE_SLOTS", 5)
    expected = []
    for hour in range(3):
        start = START + timedelta(hours=hour)
        slot = allocator.create_slot("dr-rao", start, start + timedelta(minutes=30), Capacity(2, 0, 0))
        gone = allocator.cancel(allocator.book(slot.slot_id, "asha", Source.ONLINE).booking_id)
        for n in range(ARCHIVE_AT):
            allocator.cancel(allocator.book(slot.slot_id, f"o-{hour}-{n}", Source.ONLINE).booking_id)
        held = allocator.book(slot.slot_id, "asha", Source.ONLINE)
        assert allocator.store.slots[slot.slot_id].booking(gone.booking_id) is None  # archived
        expected += [(gone.booking_id, Status.CANCELLED), (held.booking_id, Status.BOOKED)]
    pages = [allocator.patient_bookings("asha")]
    while pages[-1].next is not None:
        pages.append(allocator.patient_bookings("asha", after=pages[-1].next))
    assert [len(p.bookings) for p in pages] == [3, 3]
    assert [(b.booking_id, b.status) for p in pages for b in p.bookings] == expected
    assert reads.ListingPosition.of_cursor(pages[0].next or "").booking_id == expected[2][0]  # an archived one
