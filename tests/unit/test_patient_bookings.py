"""The service's waitlist and a patient's bookings, on the in-memory fakes and a fixed clock."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from opd import domain
from opd.domain import CancelReason, Capacity, Source, Status
from opd.errors import ValidationFailed
from opd.service import Allocator, reads
from opd.settings import Settings
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

NOW = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)  # 09:30 on 2030-01-07 in the clinic (Asia/Kolkata)
IST = timezone(timedelta(hours=5, minutes=30))
HALF_HOUR = timedelta(minutes=30)

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


@pytest.fixture
def store() -> FakeSlotStore:
    return FakeSlotStore()


@pytest.fixture
def allocator(store: FakeSlotStore) -> FakeAllocator:
    return Allocator(store, FakeSlotLock(), Settings(clinic_time_zone="Asia/Kolkata"), clock=lambda: NOW)


def test_the_waitlist_is_the_waitlisted_bookings_in_join_order_with_their_places(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", NOW + timedelta(hours=1), NOW + timedelta(hours=2), Capacity(1, 0, 0))
    holder = allocator.book(slot.slot_id, "p-0", Source.WALKIN)
    waiting = [allocator.book(slot.slot_id, f"w-{n}", Source.ONLINE, waitlist=True) for n in range(3)]
    allocator.cancel(waiting[1].booking_id, reason=CancelReason.PATIENT)
    listed = allocator.waitlist(slot.slot_id)
    assert [(b.booking_id, b.waitlist_position, b.standing) for b in listed] == [
        (waiting[0].booking_id, 1, None),
        (waiting[2].booking_id, 2, None),
    ]
    allocator.cancel(holder.booking_id)
    assert [b.booking_id for b in allocator.waitlist(slot.slot_id)] == [waiting[2].booking_id]


def test_a_patients_bookings_are_theirs_in_every_state_by_start_over_clinic_days(allocator: FakeAllocator) -> None:
    starts = {
        "before": datetime(2030, 1, 6, 23, 30, tzinfo=IST),  # the day before, in the clinic
        "first": datetime(2030, 1, 7, 0, 0, tzinfo=IST),  # 2030-01-06 18:30 in UTC: today in the clinic
        "second": datetime(2030, 1, 7, 10, 0, tzinfo=IST),
        "last": datetime(2030, 1, 9, 23, 30, tzinfo=IST),
        "after": datetime(2030, 1, 10, 0, 0, tzinfo=IST),
    }
    # Slots that have started are read as they are stored: make them with a clock of their own.
    early = Allocator(allocator.store, allocator.lock, allocator.settings, clock=lambda: starts["before"] - HALF_HOUR)
    mine = {}
    for name, start in reversed(starts.items()):
        slot = early.create_slot("dr-rao", start, start + HALF_HOUR)
        early.book(slot.slot_id, "someone-else", Source.WALKIN)
        mine[name] = early.book(slot.slot_id, "asha", Source.ONLINE)
    early.cancel(mine["second"].booking_id, reason=CancelReason.PATIENT)

    listed = allocator.patient_bookings("asha", date(2030, 1, 7), date(2030, 1, 9))
    assert [b.booking_id for b in listed] == [mine[name].booking_id for name in ("first", "second", "last")]
    assert [b.status for b in listed] == [Status.BOOKED, Status.CANCELLED, Status.BOOKED]
    assert [b.standing.position if b.standing else None for b in listed] == [1, None, 1]
    assert allocator.patient_bookings("nobody", date(2030, 1, 7), date(2030, 1, 9)) == []


def test_the_days_default_to_today_in_the_clinic_and_30_days_on(store: FakeSlotStore) -> None:
    late_evening = datetime(2030, 1, 6, 20, 0, tzinfo=UTC)  # already 2030-01-07 (01:30) in the clinic
    allocator = Allocator(store, FakeSlotLock(), Settings(clinic_time_zone="Asia/Kolkata"), clock=lambda: late_evening)
    asked: list[tuple[datetime, datetime, int]] = []

    def recorded(patient_id: str, start_from: datetime, start_before: datetime, limit: int) -> list[object]:
        asked.append((start_from, start_before, limit))
        return []

    store.patient_slots = recorded  # type: ignore[method-assign,assignment]
    allocator.patient_bookings("asha")
    allocator.patient_bookings("asha", first_day=date(2030, 3, 1))
    allocator.patient_bookings("asha", last_day=date(2030, 1, 7))
    midnight = datetime(2030, 1, 7, tzinfo=IST)
    assert asked == [
        (midnight, midnight + timedelta(days=31), reads.BOOKINGS_MAX_SLOTS),
        (datetime(2030, 3, 1, tzinfo=IST), datetime(2030, 4, 1, tzinfo=IST), reads.BOOKINGS_MAX_SLOTS),
        (midnight, midnight + timedelta(days=1), reads.BOOKINGS_MAX_SLOTS),
    ]


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2030, 1, 7), date(2030, 4, 9), None),  # 92 days apart
        (date(2030, 1, 7), date(2030, 4, 10), "to: must be at most 92 days after from (2030-01-07)"),
        (date(2030, 1, 8), date(2030, 1, 7), "to: must not be before from (2030-01-08)"),
        (None, date(2030, 1, 6), "to: must not be before from (2030-01-07)"),
    ],
)
def test_to_is_not_before_from_nor_more_than_92_days_after(
    allocator: FakeAllocator, first: date | None, last: date, message: str | None
) -> None:
    if message is None:
        assert allocator.patient_bookings("asha", first, last) == []
        return
    with pytest.raises(ValidationFailed) as refused:
        allocator.patient_bookings("asha", first, last)
    assert refused.value.message == message and refused.value.details[0]["field"] == "to"


def test_a_listing_reads_at_most_the_cap_of_slots_the_earliest_and_says_so(
    allocator: FakeAllocator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(reads, "BOOKINGS_MAX_SLOTS", 2)
    made = []
    for hour in (3, 1, 2):
        start = NOW + timedelta(hours=hour)
        slot = allocator.create_slot(f"dr-{hour}", start, start + HALF_HOUR)
        made.append((start, allocator.book(slot.slot_id, "asha", Source.ONLINE).booking_id))
    with caplog.at_level(logging.WARNING, logger="opd.service"):
        listed = allocator.patient_bookings("asha")
    assert [b.booking_id for b in listed] == [booking_id for _, booking_id in sorted(made)[:2]]
    assert "listed from their first 2 slots only" in caplog.text
    assert "asha" not in caplog.text  # no patient id in the log


def test_a_bad_patient_id_is_refused_before_any_query(allocator: FakeAllocator) -> None:
    with pytest.raises(ValidationFailed) as refused:
        allocator.patient_bookings("a b")
    assert refused.value.details[0]["field"] == "patientId"


def test_the_fake_store_lists_a_patients_slots_half_open_by_start_up_to_the_limit(
    allocator: FakeAllocator, store: FakeSlotStore
) -> None:
    made = []
    for hour in (4, 1, 3, 2):
        start = NOW + timedelta(hours=hour)
        slot = allocator.create_slot("dr-rao", start, start + HALF_HOUR)
        allocator.book(slot.slot_id, "asha" if hour != 3 else "ravi", Source.ONLINE)
        made.append((hour, slot.slot_id))
    ids = dict(made)
    found = store.patient_slots("asha", NOW + timedelta(hours=1), NOW + timedelta(hours=4), 10)
    assert [s.slot_id for s in found] == [ids[1], ids[2]]  # not ravi's, not the one starting at the end
    assert [s.slot_id for s in store.patient_slots("asha", NOW, NOW + timedelta(days=1), 2)] == [ids[1], ids[2]]


def test_a_replayed_waitlisting_says_waitlisted_without_a_place_once_promoted(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", NOW + timedelta(hours=1), NOW + timedelta(hours=2), Capacity(1, 0, 0))
    holder = allocator.book(slot.slot_id, "p-0", Source.WALKIN)
    waiting = allocator.book(slot.slot_id, "w-0", Source.ONLINE, waitlist=True)
    allocator.cancel(holder.booking_id)
    promoted = allocator.get_slot(slot.slot_id)
    first = domain.answered(promoted, waiting.as_created(), NOW)  # what a repeat of its request is answered
    assert (first.status, first.token, first.standing, first.waitlist_position) == (Status.WAITLISTED, None, None, None)
    now = domain.answered(promoted, allocator.get_booking(waiting.booking_id), NOW)
    assert (now.status, now.token, now.standing is not None, now.waitlist_position) == (Status.BOOKED, 2, True, None)
