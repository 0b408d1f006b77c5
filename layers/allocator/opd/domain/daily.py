"""A doctor's clinic day in figures, for the administrators' daily reports (contract, "Reports"): pure, no I/O.

One `DayReport` per doctor and clinic date, made once from that day's slots and every booking they ever held (those
still in the slot and those gone to the archive), when the day is over (`day_is_final`), and never changed after.

What each figure counts, from the bookings' own records:
- places: bookings that were given a place, i.e. a token (at booking or when promoted), whatever became of them;
- consultations: COMPLETED bookings; noShows: NO_SHOW ones (the sweeper's, the desk's, the third skip's);
- cancelled: CANCELLED bookings by reason, every reason present (0 where none);
- waitlist: joined (bookings made WAITLISTED), promoted (WAITLISTED then BOOKED), expired (WAITLIST_EXPIRED);
- waitMinutes: from a booking's first check-in to its first call, for every booking that had both;
- consultMinutes: from the call to completion (`calledAt` → `completedAt`, the last call when a skip made several, as
  the contract's wait estimate reads a consultation), for COMPLETED bookings that were called (the room flow);
- firstCallLateMinutes: per slot that had a call, its first call less the slot's start (negative: called early);
  the median over those slots.
Counts are whole numbers (0 when nothing happened). A measure nothing measured (no wait, no consultation, no call) is
None (null), never 0: a day without the room flow has no waits, not waits of 0 minutes.

Medians and percentiles: the median is the middle value, the mean of the two middle ones for an even count (the usual
median, as `queue.consultation_minutes` takes it); p90 is the nearest-rank percentile, the smallest measured value
that at least 90 % of the values do not exceed (sorted[ceil(0.9 n) - 1]). Nearest rank because a doctor's day has
tens of patients, not thousands: it always answers a wait some patient really had, needs no interpolation between two
patients, and is what a hand count of the day gives. Both are computed exactly (whole microseconds as fractions), then
rounded to one decimal, halves away from zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

from opd.domain.doctors import Doctor
from opd.domain.model import Booking, Slot, Tier
from opd.domain.sessions import clinic_day
from opd.domain.states import CancelReason, Status

_MICROSECONDS_A_MINUTE = 60_000_000
PAST_YEARS = 2  # as far back as a report (and a backfill) may ask: today less 2 years (contract, "Conventions")


@dataclass(frozen=True)
class Measure:
    """The median and p90 of a day's measured minutes; both None when nothing was measured."""

    median: float | None
    p90: float | None


@dataclass(frozen=True)
class WaitlistFigures:
    joined: int
    promoted: int
    expired: int


@dataclass(frozen=True)
class TierFigures:
    places: int
    no_shows: int


@dataclass(frozen=True)
class DayReport:
    """The contract's DayReport: one doctor's clinic date, final once made."""

    day: date
    doctor_id: str
    doctor_name: str  # the directory's name when the day was reported; the id for a doctor with no record
    department: str | None  # None for a doctor with no record
    slots: int
    capacity: int  # the sum of the slots' CRITICAL limits (every place a slot has)
    places: int
    consultations: int
    no_shows: int
    cancelled: Mapping[CancelReason, int]  # every reason, in CancelReason's order
    waitlist: WaitlistFigures
    by_tier: Mapping[Tier, TierFigures]  # every tier, in Tier's order
    wait_minutes: Measure
    consult_minutes: Measure
    first_call_late_minutes: float | None
    sms: int | None  # SMS sent about the day (see `opd.dayreports`); None where they were not counted

    @property
    def report_id(self) -> str:
        return report_id(self.doctor_id, self.day)


def report_id(doctor_id: str, day: date) -> str:
    """`<doctorId>|<date>`: a doctor id never holds `|` (ID_PATTERN), so the two parts are read back unambiguously."""
    return f"{doctor_id}|{day.isoformat()}"


def day_of(slot: Slot, zone: ZoneInfo) -> date:
    """The clinic date a slot counts for: the local date of its start."""
    return clinic_day(slot.start, zone)


def day_is_final(slots: Sequence[Slot], now: datetime) -> bool:
    """Whether the day of `slots` (one doctor's, one date) is over at `now`, its figures settled for good: it has a
    slot, every slot has ended, and none still holds a BOOKED or WAITLISTED booking (the sweeper marks and expires them
    at start + grace: a slot shorter than the grace ends first) or a reschedule under way. A patient still CHECKED_IN
    or CALLED then counts as a place, never as a consultation or a no-show: the report does not wait for the desk."""
    return bool(slots) and all(s.end <= now and not s.awaiting_arrival and not s.reschedules_pending for s in slots)


def day_report(
    day: date,
    doctor_id: str,
    slots: Sequence[Slot],
    archived: Iterable[Booking] = (),
    doctor: Doctor | None = None,
    sms: int | None = None,
) -> DayReport:
    """The figures of the doctor's day from its slots and the bookings of those slots that went to the archive (a
    booking in both, archived a moment before its slot's write dropped it, counts once)."""
    slots = list({s.slot_id: s for s in slots}.values())  # each slot once, as read
    by_slot: dict[str, dict[str, Booking]] = {s.slot_id: {b.booking_id: b for b in s.bookings} for s in slots}
    for booking in archived:
        by_slot.get(booking.slot_id, {}).setdefault(booking.booking_id, booking)
    bookings = [b for kept in by_slot.values() for b in kept.values()]
    given = [b for b in bookings if b.token is not None]
    no_shows = [b for b in bookings if b.status is Status.NO_SHOW]
    cancelled = {reason: 0 for reason in CancelReason}
    for b in bookings:
        if b.status is Status.CANCELLED:
            cancelled[b.cancel_reason or CancelReason.STAFF] += 1  # a cancel without a reason is staff's (the default)
    late = [called - s.start for s in slots if (called := first_call(by_slot[s.slot_id].values())) is not None]
    return DayReport(
        day=day,
        doctor_id=doctor_id,
        doctor_name=doctor_id if doctor is None else doctor.name,
        department=None if doctor is None else doctor.department,
        slots=len(slots),
        capacity=sum(s.capacity.places for s in slots),
        places=len(given),
        consultations=sum(1 for b in bookings if b.status is Status.COMPLETED),
        no_shows=len(no_shows),
        cancelled=cancelled,
        waitlist=WaitlistFigures(
            joined=sum(1 for b in bookings if b.history and b.history[0].status is Status.WAITLISTED),
            promoted=sum(1 for b in bookings if was_promoted(b)),
            expired=cancelled[CancelReason.WAITLIST_EXPIRED],
        ),
        by_tier={
            tier: TierFigures(
                places=sum(1 for b in given if b.tier is tier), no_shows=sum(1 for b in no_shows if b.tier is tier)
            )
            for tier in Tier
        },
        wait_minutes=measure(minutes(w) for b in bookings if (w := wait(b)) is not None),
        consult_minutes=measure(minutes(c) for b in bookings if (c := consultation(b)) is not None),
        first_call_late_minutes=rounded(median(sorted(minutes(d) for d in late))),
        sms=sms,
    )


# -- what one booking tells ---------------------------------------------------------------------------------------


def first_at(booking: Booking, status: Status, after: datetime | None = None) -> datetime | None:
    """When the booking first became `status` (at or after `after`), from its history; None if it never did."""
    return next((c.at for c in booking.history if c.status is status and (after is None or c.at >= after)), None)


def wait(booking: Booking) -> timedelta | None:
    """From the first check-in to the first call after it; None unless the booking was both checked in and called."""
    checked_in = first_at(booking, Status.CHECKED_IN)
    called = None if checked_in is None else first_at(booking, Status.CALLED, after=checked_in)
    return None if checked_in is None or called is None else called - checked_in


def consultation(booking: Booking) -> timedelta | None:
    """From the call to completion (`calledAt`, the last call, to `completedAt`); None unless a called booking was
    completed (completed straight from CHECKED_IN, without the room flow, has no call)."""
    if booking.status is not Status.COMPLETED or booking.called_at is None or booking.completed_at is None:
        return None
    return booking.completed_at - booking.called_at


def was_promoted(booking: Booking) -> bool:
    """Whether the booking went from the waitlist to a place (WAITLISTED, then BOOKED, in its history)."""
    return any(a.status is Status.WAITLISTED and b.status is Status.BOOKED for a, b in pairwise(booking.history))


def first_call(bookings: Iterable[Booking]) -> datetime | None:
    """The first time anyone was called into the room from this slot's bookings; None if nobody was."""
    return min((at for b in bookings if (at := first_at(b, Status.CALLED)) is not None), default=None)


# -- dates ----------------------------------------------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    """The same date `years` earlier (28 February for a 29th in a year that has none)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# -- medians and percentiles, exactly, then rounded -----------------------------------------------------------------


def minutes(span: timedelta) -> Fraction:
    """A timedelta in minutes, exactly (whole microseconds over 60,000,000)."""
    return Fraction(span // span.resolution, _MICROSECONDS_A_MINUTE)


def median(ordered: Sequence[Fraction]) -> Fraction | None:
    """The middle value of sorted values, the mean of the two middle ones for an even count; None for none."""
    n = len(ordered)
    if n == 0:
        return None
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def nearest_rank(ordered: Sequence[Fraction], percent: int) -> Fraction | None:
    """The nearest-rank percentile of sorted values: the value at rank ceil(percent/100 * n), 1-based; None for none."""
    if not ordered:
        return None
    rank = math.ceil(Fraction(percent, 100) * len(ordered))
    return ordered[max(rank, 1) - 1]


def rounded(value: Fraction | None) -> float | None:
    """To one decimal, halves away from zero (2.25 is 2.3, -2.25 is -2.3); None stays None."""
    if value is None:
        return None
    tenths = math.floor(abs(value) * 10 + Fraction(1, 2))
    return math.copysign(tenths / 10, value) if tenths else 0.0


def measure(values: Iterable[Fraction]) -> Measure:
    ordered = sorted(values)
    return Measure(median=rounded(median(ordered)), p90=rounded(nearest_rank(ordered, 90)))


# -- a report as a row: its figures in one order -------------------------------------------------------------------

Figure = int | float | None

# The figures of a stored row and of the CSV, in the contract's order and words (dotted where the JSON nests them).
# Written out, not made from CancelReason and Tier: the list only grows at its end (a new reason or tier is appended
# here), so a row written before has fewer figures, read as null (`opd.dayreports`). A unit test checks that every
# reason and tier is here.
FIGURES: tuple[str, ...] = (
    "slots",
    "capacity",
    "places",
    "consultations",
    "noShows",
    "cancelled.PATIENT",
    "cancelled.STAFF",
    "cancelled.RESCHEDULED",
    "cancelled.DOCTOR_UNAVAILABLE",
    "cancelled.WAITLIST_EXPIRED",
    "waitlist.joined",
    "waitlist.promoted",
    "waitlist.expired",
    "byTier.STANDARD.places",
    "byTier.STANDARD.noShows",
    "byTier.PREMIUM.places",
    "byTier.PREMIUM.noShows",
    "byTier.CRITICAL.places",
    "byTier.CRITICAL.noShows",
    "waitMinutes.median",
    "waitMinutes.p90",
    "consultMinutes.median",
    "consultMinutes.p90",
    "firstCallLateMinutes",
    "sms",
)


def figures_of(report: DayReport) -> list[Figure]:
    """The report's figures in the order of FIGURES."""
    named: dict[str, Figure] = {
        "slots": report.slots,
        "capacity": report.capacity,
        "places": report.places,
        "consultations": report.consultations,
        "noShows": report.no_shows,
        **{f"cancelled.{reason.value}": n for reason, n in report.cancelled.items()},
        "waitlist.joined": report.waitlist.joined,
        "waitlist.promoted": report.waitlist.promoted,
        "waitlist.expired": report.waitlist.expired,
        **{f"byTier.{tier.value}.places": t.places for tier, t in report.by_tier.items()},
        **{f"byTier.{tier.value}.noShows": t.no_shows for tier, t in report.by_tier.items()},
        "waitMinutes.median": report.wait_minutes.median,
        "waitMinutes.p90": report.wait_minutes.p90,
        "consultMinutes.median": report.consult_minutes.median,
        "consultMinutes.p90": report.consult_minutes.p90,
        "firstCallLateMinutes": report.first_call_late_minutes,
        "sms": report.sms,
    }
    return [named[name] for name in FIGURES]


@dataclass(frozen=True)
class DayRow:
    """A stored day report: who and when, and its figures in the order of FIGURES (as many as FIGURES names)."""

    day: str  # YYYY-MM-DD
    doctor_id: str
    doctor_name: str
    department: str | None
    figures: tuple[Figure, ...]

    def figure(self, name: str) -> Figure:
        return self.figures[FIGURES.index(name)]
