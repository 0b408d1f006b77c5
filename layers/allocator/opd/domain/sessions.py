"""A doctor's recurring sessions (the slots they open) and leave (the slots they close)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from opd.domain.model import Booking, Capacity, Slot
from opd.domain.states import LEAVE_CANCELS, CancelReason, Status
from opd.errors import ValidationFailed

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # date.weekday() order
MAX_SESSION_DAYS = 92  # `from` to `to`, inclusive ends, at most this many days apart
MAX_SESSION_SLOTS = 500  # slots one request may create
SLOT_MINUTES = (5, 240)


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
    closed = replace(slot, closed=True)
    for booking in cancelled:
        closed = closed.with_booking(booking)
    return closed, cancelled
