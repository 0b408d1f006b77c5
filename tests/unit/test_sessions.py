"""Doctors' sessions and leave in pure code and through the service on in-memory fakes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opd import domain
from opd.domain import CancelReason, Capacity, SessionPlan, Source, Status
from opd.errors import DayFull, SlotBusy, SlotClosed, ValidationFailed
from opd.ports import Held
from opd.service import Allocator
from opd.settings import Settings
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: 19:00 UTC is half past midnight of the next date there
UTC_ZONE = ZoneInfo("UTC")
MON, WED = 0, 2


def plan(first: date, last: date | None = None, **changes: object) -> SessionPlan:
    fields: dict[str, object] = {
        "first": first,
        "last": first if last is None else last,
        "weekdays": frozenset({MON, WED}),
        "opens": time(9),
        "closes": time(13),
        "slot_minutes": 15,
        "capacity": Capacity(),
    }
    fields.update(changes)
    return SessionPlan(**fields)  # type: ignore[arg-type]


def test_mondays_and_wednesdays_nine_to_one_in_fifteen_minute_slots() -> None:
    times = domain.session_times(plan(date(2027, 1, 4), date(2027, 1, 13)), ZoneInfo("UTC"))
    days = sorted({start.date() for start, _ in times})
    assert days == [date(2027, 1, 4), date(2027, 1, 6), date(2027, 1, 11), date(2027, 1, 13)]
    assert len(times) == 4 * 16
    assert times[0] == (datetime(2027, 1, 4, 9, tzinfo=UTC), datetime(2027, 1, 4, 9, 15, tzinfo=UTC))
    assert times[15][1] == datetime(2027, 1, 4, 13, tzinfo=UTC)


def test_nine_stays_nine_local_across_the_change_to_summer_time() -> None:
    # Europe/London moves to BST (UTC+1) on Sunday 28 March 2027.
    times = domain.session_times(plan(date(2027, 3, 22), date(2027, 3, 31)), LONDON)
    firsts = {start.date(): start for start, _ in reversed(times)}
    assert firsts[date(2027, 3, 24)] == datetime(2027, 3, 24, 9, tzinfo=UTC)  # GMT
    assert firsts[date(2027, 3, 29)] == datetime(2027, 3, 29, 8, tzinfo=UTC)  # BST: 09:00 local
    assert all(start.astimezone(LONDON).time() >= time(9) for start, _ in times)
    assert len(times) == 4 * 16


def test_a_start_the_clock_skips_has_no_slot_and_each_slot_lasts_its_minutes() -> None:
    night = plan(date(2027, 3, 28), date(2027, 3, 28), weekdays=frozenset({6}), opens=time(0), closes=time(3))
    times = domain.session_times(replace_minutes(night, 30), LONDON)
    local = [start.astimezone(LONDON).strftime("%H:%M") for start, _ in times]
    assert local == ["00:00", "00:30", "02:00", "02:30"]  # 01:00 and 01:30 do not exist that night
    assert all(end - start == timedelta(minutes=30) for start, end in times)


def replace_minutes(session: SessionPlan, minutes: int) -> SessionPlan:
    return SessionPlan(
        session.first, session.last, session.weekdays, session.opens, session.closes, minutes, session.capacity
    )


def test_a_last_piece_shorter_than_a_slot_is_not_created() -> None:
    times = domain.session_times(plan(date(2027, 1, 4), date(2027, 1, 4), closes=time(9, 40)), ZoneInfo("UTC"))
    assert len(times) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"last": date(2027, 1, 3)}, "to"),
        ({"last": date(2027, 4, 7)}, "to"),  # 93 days after 4 January; 6 April (92) is the last allowed
        ({"weekdays": frozenset()}, "weekdays"),
        ({"closes": time(9)}, "end"),
        ({"slot_minutes": 4}, "slotMinutes"),
        ({"slot_minutes": 241}, "slotMinutes"),
    ],
)
def test_a_session_out_of_bounds_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        dataclasses.replace(plan(date(2027, 1, 4)), **changes)
    assert [d["field"] for d in refused.value.details] == [field]


def test_more_than_500_slots_in_one_request_is_refused() -> None:
    every_day = frozenset(range(7))
    fine = plan(date(2027, 1, 4), date(2027, 2, 3), weekdays=every_day, opens=time(8), closes=time(12))
    assert len(domain.session_times(fine, LONDON)) == 31 * 16  # 496
    too_many = plan(date(2027, 1, 4), date(2027, 2, 4), weekdays=every_day, opens=time(8), closes=time(12))
    with pytest.raises(ValidationFailed, match="makes 512 slots; at most 500"):
        domain.session_times(too_many, LONDON)


# -- through the service -------------------------------------------------------------------------

NOW = datetime(2027, 1, 1, 8, tzinfo=UTC)


@pytest.fixture
def allocator() -> Allocator[FakeSlotStore, FakeSlotLock]:
    return Allocator(FakeSlotStore(), FakeSlotLock(), Settings(clinic_time_zone="Europe/London"), clock=lambda: NOW)


def test_a_repeat_creates_nothing_more_and_lists_what_exists(allocator: Allocator[FakeSlotStore, FakeSlotLock]) -> None:
    session = plan(date(2027, 1, 4), date(2027, 1, 6))
    first = allocator.open_sessions("dr-rao", session)
    assert (len(first.created), first.existing) == (32, [])
    longer = allocator.open_sessions("dr-rao", plan(date(2027, 1, 4), date(2027, 1, 11)))
    assert len(longer.created) == 16 and longer.existing == [s.slot_id for s in first.created]
    again = allocator.open_sessions("dr-rao", session)
    assert again.created == [] and len(again.existing) == 32
    assert len(allocator.store.slots) == 48


def test_leave_closes_the_day_and_cancels_who_waits_but_not_who_is_in_the_room(
    allocator: Allocator[FakeSlotStore, FakeSlotLock],
) -> None:
    created = allocator.open_sessions("dr-rao", plan(date(2027, 1, 4), date(2027, 1, 4), closes=time(9, 30))).created
    first, second = (s.slot_id for s in created)
    in_room = allocator.book(first, "asha", Source.ONLINE, by="desk")
    allocator.check_in(in_room.booking_id, by="desk")
    allocator.call_next(first, by="desk")
    arrived = allocator.book(first, "ravi", Source.WALKIN, by="desk")
    allocator.check_in(arrived.booking_id, by="desk")
    allocator.book(second, "meena", Source.ONLINE, by="meena")
    other_day = allocator.open_sessions("dr-rao", plan(date(2027, 1, 6), date(2027, 1, 6), closes=time(9, 15)))
    elsewhere = allocator.book(other_day.created[0].slot_id, "kiran", Source.ONLINE)

    taken = allocator.take_leave("dr-rao", date(2027, 1, 4), by="admin")
    assert taken.slots == 2
    assert sorted(b.patient_id for b in taken.cancelled) == ["meena", "ravi"]
    assert all(b.cancel_reason is CancelReason.DOCTOR_UNAVAILABLE for b in taken.cancelled)
    assert allocator.get_booking(in_room.booking_id).status is Status.CALLED
    assert allocator.get_booking(elsewhere.booking_id).status is Status.BOOKED  # another day: untouched
    assert all(allocator.get_slot(s).closed for s in (first, second))
    with pytest.raises(SlotClosed):
        allocator.book(second, "new", Source.EMERGENCY)

    again = allocator.take_leave("dr-rao", date(2027, 1, 4), by="admin")
    assert (again.slots, again.cancelled) == (2, [])


def test_leave_interrupted_halfway_is_finished_by_a_repeat(allocator: Allocator[FakeSlotStore, FakeSlotLock]) -> None:
    created = allocator.open_sessions("dr-rao", plan(date(2027, 1, 4), date(2027, 1, 4), closes=time(10))).created
    for n, slot in enumerate(created):
        allocator.book(slot.slot_id, f"p{n}", Source.ONLINE)
    busy = allocator.lock.acquire(created[2].slot_id)  # another request holds the third slot: the leave stops there
    with pytest.raises(SlotBusy):
        allocator.take_leave("dr-rao", date(2027, 1, 4), by="admin")
    closed = [allocator.get_slot(s.slot_id).closed for s in created]
    assert closed == [True, True, False, False]  # some done, the rest untouched
    assert isinstance(busy, Held)
    allocator.lock.release(created[2].slot_id, busy.owner)
    finished = allocator.take_leave("dr-rao", date(2027, 1, 4), by="admin")
    assert sorted(b.patient_id for b in finished.cancelled) == ["p2", "p3"]
    assert all(allocator.get_slot(s.slot_id).closed for s in created)


# -- at most 100 slots a doctor on one date (DAY_FULL) -----------------------------------------------


def starts(first: datetime, count: int, minutes: int = 5) -> list[datetime]:
    return [first + timedelta(minutes=minutes * n) for n in range(count)]


MONDAY_8 = datetime(2027, 1, 4, 8, tzinfo=UTC)
EVENING = datetime(2027, 1, 4, 18, tzinfo=UTC)  # after 100 five-minute slots from 08:00 (the last at 16:15)


def test_a_date_takes_100_slots_counting_those_that_exist_and_not_one_more() -> None:
    assert domain.MAX_SLOTS_PER_DAY == 100
    domain.require_room(starts(MONDAY_8, 99), [EVENING], UTC_ZONE)  # the 100th
    with pytest.raises(DayFull) as refused:
        domain.require_room(starts(MONDAY_8, 100), [EVENING], UTC_ZONE)
    assert refused.value.code == "DAY_FULL"
    assert refused.value.details == [{"date": "2027-01-04", "existing": 100, "adding": 1, "limit": 100}]
    assert "2027-01-04 has 100 and would get 1 more" in refused.value.message


def test_a_start_that_exists_is_not_a_new_slot_so_a_repeat_passes() -> None:
    full = starts(MONDAY_8, 100)
    domain.require_room(full, full, UTC_ZONE)  # a session sent again: nothing new
    domain.require_room(full, [full[0], full[0]], UTC_ZONE)
    with pytest.raises(DayFull) as refused:
        domain.require_room(full, [*full, EVENING], UTC_ZONE)
    assert refused.value.details[0]["adding"] == 1


def test_the_date_is_the_clinics() -> None:
    half_past_midnight_there = datetime(2027, 1, 4, 19, tzinfo=UTC)  # 5 January in Kolkata, still the 4th in UTC
    domain.require_room(starts(MONDAY_8, 100), [half_past_midnight_there], KOLKATA)
    with pytest.raises(DayFull):
        domain.require_room(starts(MONDAY_8, 100), [half_past_midnight_there], UTC_ZONE)
    assert domain.clinic_day(half_past_midnight_there, KOLKATA) == date(2027, 1, 5)
    assert domain.clinic_days(date(2027, 1, 4), date(2027, 1, 5), KOLKATA) == (
        datetime(2027, 1, 3, 18, 30, tzinfo=UTC),
        datetime(2027, 1, 5, 18, 30, tzinfo=UTC),
    )


def test_every_date_over_is_named_with_its_counts_and_only_those() -> None:
    existing = starts(MONDAY_8, 90) + starts(MONDAY_8 + timedelta(days=2), 95)  # the 4th and the 6th
    evenings = [datetime(2027, 1, day, hour, tzinfo=UTC) for day in (3, 4, 5, 6) for hour in range(17, 24)]
    planned = evenings + starts(MONDAY_8 + timedelta(hours=10, minutes=30), 5)  # 7 each evening, 5 more on the 4th
    loads = domain.day_loads(existing, planned, UTC_ZONE)
    assert [(load.day.day, load.existing, load.adding, load.total) for load in loads] == [
        (3, 0, 7, 7),
        (4, 90, 12, 102),
        (5, 0, 7, 7),
        (6, 95, 7, 102),
    ]
    with pytest.raises(DayFull) as refused:
        domain.require_room(existing, planned, UTC_ZONE)
    assert refused.value.details == [
        {"date": "2027-01-04", "existing": 90, "adding": 12, "limit": 100},
        {"date": "2027-01-06", "existing": 95, "adding": 7, "limit": 100},
    ]


def test_a_date_over_the_limit_already_refuses_only_a_request_that_adds_to_it() -> None:
    crowded = starts(MONDAY_8, 120)  # made before the rule, or by two requests at once
    domain.require_room(crowded, [*crowded[:10], EVENING + timedelta(days=1)], UTC_ZONE)  # the 5th: another date
    with pytest.raises(DayFull):
        domain.require_room(crowded, [EVENING], UTC_ZONE)


def test_the_service_refuses_the_101st_slot_and_a_session_over_a_full_date_makes_nothing(
    allocator: Allocator[FakeSlotStore, FakeSlotLock],
) -> None:
    london = datetime(2027, 1, 4, 8, tzinfo=LONDON)  # GMT in January: the clinic's date is UTC's
    for start in starts(london, 100):
        allocator.create_slot("dr-rao", start, start + timedelta(minutes=5))
    with pytest.raises(DayFull):
        allocator.create_slot("dr-rao", EVENING, EVENING + timedelta(minutes=5))
    allocator.create_slot("dr-rao", EVENING + timedelta(days=1), EVENING + timedelta(days=1, minutes=5))
    allocator.create_slot("dr-sen", EVENING, EVENING + timedelta(minutes=5))  # another doctor's date
    evenings = plan(date(2027, 1, 3), date(2027, 1, 5), weekdays=frozenset(range(7)), opens=time(17), closes=time(21))
    with pytest.raises(DayFull):  # the 3rd and the 5th would have room; the 4th would not
        allocator.open_sessions("dr-rao", evenings)
    assert len(allocator.store.slots) == 102
