"""A doctor's recurring sessions (the slots they open) and leave (the slots they close)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from opd.domain.model import Booking, Capacity, Slot
from opd.domain.states import LEAVE_CANCELS, CancelReason, Status
from opd.errors import DayFull, ValidationFailed

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # date.weekday() order
MAX_SESSION_DAYS = 92  # `from` to `to`, inclusive ends, at most this many days apart
MAX_SESSION_SLOTS = 500  # slots one request may create
SLOT_MINUTES = (5, 240)
# A doctor's slots on one clinic date, those that exist counted (POST /slots and sessions: 409 DAY_FULL beyond).
# It bounds what one request must do for a day: a leave closes at most this many slots.
MAX_SLOTS_PER_DAY = 100


@dataclass(frozen=True)
class SessionPlan:
    """A doctor's recurring session: on each chosen weekday from `first` to `last`, slots of
    `slot_minutes` from `opens` to `closes`, local wall-clock times in the clinic's zone."""

    first: date
    last: date
    weekdays: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    slot_minutes: int
    capacity: Capacity

    def __post_init__(self) -> None:
        details = []
        if self.last < self.first:
            details.append({"field": "to", "message": "must not be before from"})
        elif (self.last - self.first).days > MAX_SESSION_DAYS:
            details.append({"field": "to", "message": f"must be at most {MAX_SESSION_DAYS} days after from"})
        if not self.weekdays:
            details.append({"field": "weekdays", "message": "must name at least one day"})
        if self.closes <= self.opens:
            details.append({"field": "end", "message": "must be after start"})
        lowest, highest = SLOT_MINUTES
        if not lowest <= self.slot_minutes <= highest:
            details.append({"field": "slotMinutes", "message": f"must be between {lowest} and {highest}"})
        if details:
            raise ValidationFailed("invalid session", details)


def session_times(plan: SessionPlan, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Every slot's (start, end) instant, in order. Starts are local: 09:00 stays 09:00 on either side
    of a change of the zone's offset, so the instants move with it. A start the zone skips (spring
    forward) has no slot; an ambiguous one (fall back) is its first occurrence. A slot lasts
    `slot_minutes` of real time."""
    step = timedelta(minutes=plan.slot_minutes)
    times = []
    day = plan.first
    while day <= plan.last:
        if day.weekday() in plan.weekdays:
            start, closes = datetime.combine(day, plan.opens), datetime.combine(day, plan.closes)
            while start + step <= closes:  # a last piece shorter than a slot is not created
                local = start.replace(tzinfo=zone)
                if _exists(local):
                    begins = local.astimezone(UTC)
                    times.append((begins, begins + step))
                start += step
        day += timedelta(days=1)
    if len(times) > MAX_SESSION_SLOTS:
        raise ValidationFailed.field(
            "to", f"the session makes {len(times)} slots; at most {MAX_SESSION_SLOTS} a request"
        )
    return times


def _exists(local: datetime) -> bool:
    """False for a wall-clock time the zone skips: it does not survive a trip through UTC."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(tzinfo=None)


def clinic_day(instant: datetime, zone: ZoneInfo) -> date:
    """The clinic's date of an instant: the local date in `zone`."""
    return instant.astimezone(zone).date()


def clinic_days(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants that start the clinic date `first` and end `last`: local midnight to the next midnight."""
    return datetime.combine(first, time(), tzinfo=zone), datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)


@dataclass(frozen=True)
class DayLoad:
    """A doctor's clinic date as a request would leave it: the slots it has and those the request adds."""

    day: date
    existing: int
    adding: int  # planned starts the date does not have yet (one that exists is left as it is, not added)

    @property
    def total(self) -> int:
        return self.existing + self.adding


def day_loads(existing: Iterable[datetime], planned: Iterable[datetime], zone: ZoneInfo) -> list[DayLoad]:
    """Each clinic date with a planned start, by date: the doctor's slots there (`existing`: the starts the
    doctor has, on those dates or around them) and the planned starts that are new. A start is one slot
    however often it is named, as the store's unique (doctor, start) keeps it."""
    have = set(existing)
    adding = Counter(clinic_day(start, zone) for start in set(planned) - have)
    named = {clinic_day(start, zone) for start in planned}
    there = Counter(day for day in (clinic_day(start, zone) for start in have) if day in named)
    return [DayLoad(day, there[day], adding[day]) for day in sorted(named)]


def require_room(
    existing: Iterable[datetime], planned: Iterable[datetime], zone: ZoneInfo, limit: int = MAX_SLOTS_PER_DAY
) -> None:
    """Refuse (DAY_FULL) a request that would leave the doctor more than `limit` slots on any clinic date;
    `details` names each such date with the slots it has, those the request would add, and the limit."""
    # A date the request adds nothing to is no concern of this request, however many slots it has.
    over = [load for load in day_loads(existing, planned, zone) if load.adding and load.total > limit]
    if not over:
        return
    said = ", ".join(f"{load.day.isoformat()} has {load.existing} and would get {load.adding} more" for load in over)
    raise DayFull(
        f"at most {limit} slots a doctor on one date: {said}",
        [
            {"date": load.day.isoformat(), "existing": load.existing, "adding": load.adding, "limit": limit}
            for load in over
        ],
    )


def close_for_leave(slot: Slot, now: datetime, by: str) -> tuple[Slot | None, list[Booking]]:
    """The doctor is away: the slot takes no new bookings and its waiting patients are cancelled
    (DOCTOR_UNAVAILABLE). The patient in the room and finished ones are left as they are. Returns
    None for the slot when it was closed with nothing left to cancel: a repeat changes nothing."""
    cancelled = [
        replace(b.became(Status.CANCELLED, now, by), cancel_reason=CancelReason.DOCTOR_UNAVAILABLE)
        for b in slot.bookings
        if b.status in LEAVE_CANCELS
    ]
    if slot.closed and not cancelled:
        return None, []
    now_cancelled = {b.booking_id: b for b in cancelled}  # in one pass: a full slot has 25 or more
    bookings = tuple(now_cancelled.get(b.booking_id, b) for b in slot.bookings)
    return replace(slot, closed=True, bookings=bookings), cancelled
