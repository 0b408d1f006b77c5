"""The service's waitlist and a patient's bookings, on the in-memory fakes and a fixed clock."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from opd import domain
from opd.domain import Booking, CancelReason, Capacity, Slot, Source, Status
from opd.errors import ValidationFailed
from opd.service import Allocator, BookingsPage, reads
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

    page = allocator.patient_bookings("asha", date(2030, 1, 7), date(2030, 1, 9))
    listed = page.bookings
    assert [b.booking_id for b in listed] == [mine[name].booking_id for name in ("first", "second", "last")]
    assert [b.status for b in listed] == [Status.BOOKED, Status.CANCELLED, Status.BOOKED]
    assert [b.standing.position if b.standing else None for b in listed] == [1, None, 1]
    assert page.next is None
    assert allocator.patient_bookings("nobody", date(2030, 1, 7), date(2030, 1, 9)) == BookingsPage([], None)


def test_the_days_default_to_today_in_the_clinic_and_30_days_on(store: FakeSlotStore) -> None:
    late_evening = datetime(2030, 1, 6, 20, 0, tzinfo=UTC)  # already 2030-01-07 (01:30) in the clinic
    allocator = Allocator(store, FakeSlotLock(), Settings(clinic_time_zone="Asia/Kolkata"), clock=lambda: late_evening)
    asked: list[tuple[datetime, datetime, int, object]] = []

    def recorded(
        patient_id: str, start_from: datetime, start_before: datetime, limit: int, from_slot: object = None
    ) -> list[object]:
        asked.append((start_from, start_before, limit, from_slot))
        return []

    store.patient_slots = recorded  # type: ignore[method-assign,assignment]
    allocator.patient_bookings("asha")
    allocator.patient_bookings("asha", first_day=date(2030, 3, 1))
    allocator.patient_bookings("asha", last_day=date(2030, 1, 7))
    midnight = datetime(2030, 1, 7, tzinfo=IST)
    assert asked == [
        (midnight, midnight + timedelta(days=31), reads.BOOKINGS_PAGE_SLOTS, None),
        (datetime(2030, 3, 1, tzinfo=IST), datetime(2030, 4, 1, tzinfo=IST), reads.BOOKINGS_PAGE_SLOTS, None),
        (midnight, midnight + timedelta(days=1), reads.BOOKINGS_PAGE_SLOTS, None),
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
        assert allocator.patient_bookings("asha", first, last) == BookingsPage([], None)
        return
    with pytest.raises(ValidationFailed) as refused:
        allocator.patient_bookings("asha", first, last)
    assert refused.value.message == message and refused.value.details[0]["field"] == "to"


def book_505(allocator: FakeAllocator) -> list[str]:
    """505 bookings of asha's, in the listing's order: 217 slots of three doctors, three of them starting together,
    holding 4, 2 and 1 of hers (cancelled, then booked again) and one of somebody else's; made out of order."""
    theirs: dict[tuple[datetime, str], list[str]] = {}
    for n in reversed(range(217)):
        start, doctor = NOW + timedelta(hours=1 + n // 3), f"dr-{'cab'[n % 3]}"  # the same start, doctors unsorted
        slot = allocator.create_slot(doctor, start, start + HALF_HOUR)
        allocator.book(slot.slot_id, "someone-else", Source.WALKIN)
        made = [allocator.book(slot.slot_id, "asha", Source.ONLINE)]
        for _ in range((1, 4, 2)[n % 3] - 1):  # dr-a 4, dr-b 2, dr-c 1
            allocator.cancel(made[-1].booking_id, reason=CancelReason.PATIENT)
            made.append(allocator.book(slot.slot_id, "asha", Source.ONLINE))
        theirs[(start, doctor)] = [b.booking_id for b in made]
    return [booking_id for key in sorted(theirs) for booking_id in sorted(theirs[key])]


def all_pages(allocator: FakeAllocator, patient_id: str) -> list[BookingsPage]:
    """Every page of the listing over the default days, following `next` (at most 10 pages)."""
    pages = [allocator.patient_bookings(patient_id)]
    while pages[-1].next is not None and len(pages) < 10:
        pages.append(allocator.patient_bookings(patient_id, after=pages[-1].next))
    return pages


def test_505_bookings_come_in_pages_of_at_most_100_each_once_in_order(allocator: FakeAllocator) -> None:
    expected = book_505(allocator)
    assert len(expected) == len(set(expected)) == 505

    pages = all_pages(allocator, "asha")
    assert [len(p.bookings) for p in pages] == [100, 100, 100, 100, 100, 5]
    assert [p.next is None for p in pages] == [False] * 5 + [True]
    assert [b.booking_id for p in pages for b in p.bookings] == expected  # every one once, none skipped
    # A page ended in the middle of a slot's bookings of hers (slot 43 holds 4, the 99th to the 102nd).
    split = reads.ListingPosition.of_cursor(pages[0].next or "")
    assert split.booking_id == expected[99]
    assert domain.slot_id_of_booking(expected[99]) == domain.slot_id_of_booking(expected[100])
    assert {b.patient_id for p in pages for b in p.bookings} == {"asha"}
    assert [b.status for b in pages[0].bookings[:4]] == [Status.CANCELLED] * 3 + [Status.BOOKED]


def test_a_page_of_exactly_the_last_100_says_there_is_no_next(allocator: FakeAllocator) -> None:
    for hour in range(100):
        slot = allocator.create_slot(
            "dr-rao", NOW + timedelta(hours=1 + hour), NOW + timedelta(hours=1 + hour, minutes=30)
        )
        allocator.book(slot.slot_id, "asha", Source.ONLINE)
    pages = all_pages(allocator, "asha")
    assert [(len(p.bookings), p.next) for p in pages] == [(100, None)]


def test_a_page_reads_its_slots_from_the_cursors_slot_on_in_one_query(
    allocator: FakeAllocator, store: FakeSlotStore
) -> None:
    book_505(allocator)
    first = allocator.patient_bookings("asha")
    position = reads.ListingPosition.of_cursor(first.next or "")
    asked: list[tuple[int, tuple[datetime, str] | None]] = []
    real = store.patient_slots

    def recorded(
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_slot: tuple[datetime, str] | None,
    ) -> list[Slot]:
        asked.append((limit, from_slot))
        return real(patient_id, start_from, start_before, limit, from_slot)

    store.patient_slots = recorded  # type: ignore[method-assign,assignment]
    allocator.patient_bookings("asha", after=first.next)
    assert asked == [(reads.BOOKINGS_PAGE_SLOTS, (position.start, position.doctor_id))]


def cursor_at(allocator: FakeAllocator, booking: Booking) -> str:
    """The `next` of a page that stopped at this booking."""
    return reads.ListingPosition.of(allocator.get_slot(booking.slot_id), booking).cursor()


def test_a_later_booking_in_the_slot_a_page_stopped_in_is_on_the_next_page(allocator: FakeAllocator) -> None:
    slots = [
        allocator.create_slot("dr-rao", NOW + timedelta(hours=h), NOW + timedelta(hours=h, minutes=30)) for h in (1, 2)
    ]
    first = allocator.book(slots[0].slot_id, "asha", Source.ONLINE)
    later_slot = allocator.book(slots[1].slot_id, "asha", Source.ONLINE)
    cursor = cursor_at(allocator, first)
    allocator.cancel(first.booking_id, reason=CancelReason.PATIENT)
    again = allocator.book(slots[0].slot_id, "asha", Source.ONLINE)
    rest = allocator.patient_bookings("asha", after=cursor)
    assert ([b.booking_id for b in rest.bookings], rest.next) == ([again.booking_id, later_slot.booking_id], None)


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "after",
    [
        "",
        "not a cursor",
        "bm90IGEgY3Vyc29y",  # "not a cursor", in base64
        "%%%",
        "A" * 300,
        cursor_of("2030-01-07T05:00:00.000000+00:00 dr-a"),  # two parts
        cursor_of("2030-01-07T05:00:00+00:00 dr-a s-1.00"),  # not as written: no microseconds
        cursor_of("2030-01-07T10:30:00.000000+05:30 dr-a s-1.00"),  # another offset
        cursor_of("0001-01-01T00:00:00.000000+05:30 dr-a s-1.00"),  # one that is not even a time in UTC
        cursor_of("2030-01-07T05:00:00.000000 dr-a s-1.00"),  # no offset
        cursor_of("2030-01-07T05:00:00.000000+00:00 dr a s-1.00"),  # four parts
        cursor_of("2030-01-07T05:00:00.000000+00:00 dr-a nodot"),  # a booking id naming no slot
        cursor_of("2030-01-07T05:00:00.000000+00:00 dr/a s-1.00"),  # not an id
        cursor_of("2030-01-07T05:00:00.000000+00:00 dr-a s-1.00") + "=",  # padded
    ],
)
def test_a_malformed_cursor_is_refused_naming_after(allocator: FakeAllocator, after: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        allocator.patient_bookings("asha", after=after)
    assert refused.value.details == [{"field": "after", "message": reads.NOT_A_CURSOR}]


def test_a_cursor_inside_the_days_naming_no_booking_of_theirs_in_its_slot_is_refused(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    mine = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    other = allocator.book(slot.slot_id, "ravi", Source.ONLINE)
    start = slot.start.astimezone(UTC)
    made_up = [
        reads.ListingPosition(start, slot.doctor_id, f"{slot.slot_id}.0123456789abcdef"),  # no such booking
        reads.ListingPosition(start + timedelta(microseconds=1), slot.doctor_id, mine.booking_id),  # no such slot
        reads.ListingPosition(start, "dr-other", mine.booking_id),  # nor this one
        reads.ListingPosition.of(slot, other),  # ravi's, asked for asha's
    ]
    for cursor in (position.cursor() for position in made_up):
        with pytest.raises(ValidationFailed) as refused:
            allocator.patient_bookings("asha", after=cursor)
        assert refused.value.details[0]["field"] == "after"
    own = reads.ListingPosition.of(slot, mine).cursor()
    assert allocator.patient_bookings("asha", after=own) == BookingsPage([], None)


def test_a_cursor_with_other_days_goes_on_from_its_place_within_them(allocator: FakeAllocator) -> None:
    booked = []
    for day in (0, 1, 2):  # 10:30 in the clinic on 2030-01-07, 08 and 09
        start = NOW + timedelta(days=day, hours=1)
        booked.append(
            allocator.book(allocator.create_slot("dr-rao", start, start + HALF_HOUR).slot_id, "asha", Source.ONLINE)
        )
    cursor = cursor_at(allocator, booked[1])  # given by a listing over the default days

    def listed(first: date, last: date) -> list[str]:
        page = allocator.patient_bookings("asha", first, last, after=cursor)
        assert page.next is None
        return [b.booking_id for b in page.bookings]

    assert listed(date(2030, 1, 7), date(2030, 1, 9)) == [booked[2].booking_id]
    assert listed(date(2030, 1, 7), date(2030, 1, 8)) == []  # its place is the last of these days
    assert listed(date(2030, 1, 9), date(2030, 1, 10)) == [booked[2].booking_id]  # before these days: all of them
    assert listed(date(2030, 1, 7), date(2030, 1, 7)) == []  # after these days: none


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
