"""The daily reports' service: each doctor's day made into its row once it is over, by the sweeper; a backfill for days
that have none (contract, "Reports").

When: the no-show sweeper runs every 5 minutes, and after its sweep (which marks the no-shows and ends the waitlists
that settle a day) it calls `finish_days`. A day is reported by the first run that finds it over (`domain.daily.
day_is_final`), so its row is there within 5 minutes of its last slot's end, and a run finds nothing to do most times.

How it finds the days, in three round trips whatever the hour, each on an index:
1. the doctors and starts of the slots that ended in the last LOOKBACK (a day): a covered scan of the slots' (end,
   doctorId, start) index (MongoDB reads no slot document), some 800 keys for 50 doctors of 16 slots a day;
2. which of those doctors' days have a row already: one `_id $in` on `day_reports`;
3. if some have none, which of those days still have a slot to end: the same covered scan, from now to HORIZON.
Days over by the clock are then made DAYS_A_BATCH at a time: their slots (whole) in one `$or` of (doctorId, start)
ranges on the unique index, their archived bookings in one `$in`, their SMS counts in one `$in`, each doctor's
record once a run, and one `insert_many`; a day whose slots are not settled yet (`domain.daily.day_is_final`) is left
to a later run.
The LOOKBACK covers a sweeper that stopped for up to a day; anything older is the backfill's (`make backfill-reports`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from opd.domain import Booking, Doctor, Slot, clinic_day, clinic_days
from opd.domain.daily import PAST_YEARS, DayReport, day_is_final, day_report, report_id, years_before
from opd.ports import DoctorDirectory
from opd.settings import Settings

LOOKBACK = timedelta(days=1)  # how far back a run looks for slots that ended
# How far ahead it looks for a slot of those days still to end: a day's slots start before its midnight, and last at
# most 4 hours (sessions; a longer one is caught by `day_is_final`), so 1 day 5 hours (a change of the clock included).
HORIZON = timedelta(days=1, hours=5)
DAYS_A_BATCH = 10  # days made into rows per round of reads (their slots, archived bookings, SMS counts) and one insert
MAX_BACKFILL_DAYS = 92  # dates one backfill request covers, as a report does


class DayBook(Protocol):
    """What the reports need of MongoDB (`opd.dayreports.DayReportStore`)."""

    def slots_ended(self, after: datetime, through: datetime) -> list[tuple[str, datetime]]:
        """(doctor id, start) of the slots whose end is in (after, through]."""

    def reported(self, ids: Collection[str]) -> set[str]:
        """Which of these report ids have a row."""

    def days_slots(self, days: Iterable[tuple[str, datetime, datetime]]) -> list[Slot]:
        """The slots of each (doctor id, opens, closes) starting in [opens, closes), whole."""

    def archived(self, slot_ids: Collection[str]) -> list[Booking]: ...

    def sms_sent(self, ids: Collection[str]) -> dict[str, int]:
        """The SMS counted for these report ids (those counted only)."""

    def first_counted_day(self) -> date | None: ...

    def insert(self, reports: Sequence[DayReport], now: datetime) -> int:
        """Write the rows, each once: how many this call wrote (the others were there already)."""


@dataclass(frozen=True)
class DaysReported:
    written: int  # rows this run wrote
    pending: int  # days it found without a row and not over yet (or not settled): a later run reports them
    finished: bool  # False when it stopped early to respect the caller's deadline
    resume_from: date | None = None  # when not finished: the first date it did not get to


Day = tuple[date, str]  # (clinic date, doctor id): a report's key, in its order


class DayReporter:
    def __init__(self, book: DayBook, doctors: DoctorDirectory, settings: Settings) -> None:
        self.book = book
        self.doctors = doctors
        self.settings = settings

    def finish_days(
        self, now: datetime, time_left: Callable[[], float] | None = None, reserve_s: float = 2.0
    ) -> DaysReported:
        """Write the row of every doctor's day that is over at `now` and has none, among the days with a slot that
        ended in the last LOOKBACK (see the module's doc for the queries)."""
        if _short(time_left, reserve_s):
            return DaysReported(0, 0, finished=False)
        zone = self.settings.clinic_zone
        ended = self.book.slots_ended(now - LOOKBACK, now)
        return self._report({(clinic_day(start, zone), doctor) for doctor, start in ended}, now, time_left, reserve_s)

    def backfill(
        self,
        first: date,
        last: date,
        now: datetime,
        time_left: Callable[[], float] | None = None,
        reserve_s: float = 2.0,
    ) -> DaysReported:
        """Write the rows missing for the days first..last that are over at `now` (days from before the reports, or
        that the sweeper missed). A repeat writes nothing more; one stopped by the deadline says where to go on."""
        zone = self.settings.clinic_zone
        opens, closes = clinic_days(first, last, zone)
        # Slots end on their day or soon after: those ending up to a day after the last date find every day there.
        ended = self.book.slots_ended(opens, closes + timedelta(days=1))
        days = {(day, doctor) for doctor, start in ended if first <= (day := clinic_day(start, zone)) <= last}
        return self._report(days, now, time_left, reserve_s)

    def _report(
        self, days: Collection[Day], now: datetime, time_left: Callable[[], float] | None, reserve_s: float
    ) -> DaysReported:
        zone = self.settings.clinic_zone
        have = self.book.reported({report_id(doctor, day) for day, doctor in days})
        missing = sorted(d for d in days if report_id(d[1], d[0]) not in have)
        if not missing:
            return DaysReported(0, 0, finished=True)
        # A day with a slot still to end is not over: those slots, from the same covered index scan.
        later = {(clinic_day(start, zone), doctor) for doctor, start in self.book.slots_ended(now, now + HORIZON)}
        over = [d for d in missing if d not in later]
        pending = len(missing) - len(over)
        written = 0
        run = _Run(self.book, self.doctors)
        for done in range(0, len(over), DAYS_A_BATCH):
            if _short(time_left, reserve_s):
                return DaysReported(written, pending + len(over) - done, finished=False, resume_from=over[done][0])
            batch = over[done : done + DAYS_A_BATCH]
            slots: defaultdict[Day, list[Slot]] = defaultdict(list)
            for slot in self.book.days_slots(_bounds(batch, zone)):
                slots[(clinic_day(slot.start, zone), slot.doctor_id)].append(slot)
            # Over by the clock and settled: no booking left for the sweeper (it marks them at start + grace), no
            # reschedule under way, and no slot longer than HORIZON still running. Else a later run.
            final = [d for d in batch if day_is_final(slots[d], now)]
            pending += len(batch) - len(final)
            archived = self.book.archived([s.slot_id for d in final for s in slots[d]])
            sms = run.sms(final)
            made = [
                day_report(
                    day,
                    doctor_id,
                    sorted(slots[(day, doctor_id)], key=lambda s: s.start),
                    archived,
                    run.doctor(doctor_id),
                    sms[(day, doctor_id)],
                )
                for day, doctor_id in final
            ]
            written += self.book.insert(made, now)
        return DaysReported(written, pending, finished=True)


class _Run:
    """What one run reads once however many days it reports: doctors' records, the first day SMS were counted."""

    def __init__(self, book: DayBook, doctors: DoctorDirectory) -> None:
        self.book = book
        self.doctors = doctors
        self._doctors: dict[str, Doctor | None] = {}
        self._first_counted: list[date | None] = []

    def doctor(self, doctor_id: str) -> Doctor | None:
        """The doctor's record: the whole directory read once, at the first day a run makes (one query for every
        doctor of a hospital's OPD, not one a day); a doctor recorded since is read by id."""
        if not self._doctors:
            self._doctors = {doctor.doctor_id: doctor for doctor in self.doctors.listing()}
        if doctor_id not in self._doctors:
            self._doctors[doctor_id] = self.doctors.get(doctor_id)
        return self._doctors[doctor_id]

    def sms(self, days: Sequence[Day]) -> dict[Day, int | None]:
        """The SMS counted for each day; 0 for a day without a count once counting had begun (none went), and None
        for a day before any was counted (not measured)."""
        counted = self.book.sms_sent([report_id(doctor, day) for day, doctor in days])
        if len(counted) < len(days) and not self._first_counted:
            self._first_counted.append(self.book.first_counted_day())
        began = self._first_counted[0] if self._first_counted else None
        return {
            (day, doctor): counted.get(report_id(doctor, day), 0 if began is not None and day >= began else None)
            for day, doctor in days
        }


def _bounds(days: Iterable[Day], zone: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """(doctor id, the instant its day opens, the instant it closes) of each day."""
    return [(doctor, *clinic_days(day, day, zone)) for day, doctor in days]


def _short(time_left: Callable[[], float] | None, reserve_s: float) -> bool:
    return time_left is not None and time_left() < reserve_s


def backfill_days(asked: Any, today: date) -> tuple[date, date]:
    """The dates a backfill request names (`{"from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD"}`): by default the MAX_BACKFILL_
    DAYS up to yesterday; at most that many, none after today nor before today less PAST_YEARS. ValueError says
    what is wrong."""
    if not isinstance(asked, Mapping) or set(asked) - {"from", "to"}:
        raise ValueError('"backfill" must be an object with "from" and "to" dates (YYYY-MM-DD), both optional')
    try:
        last = date.fromisoformat(asked["to"]) if asked.get("to") else today - timedelta(days=1)
        first = date.fromisoformat(asked["from"]) if asked.get("from") else last - timedelta(days=MAX_BACKFILL_DAYS - 1)
    except (TypeError, ValueError):
        raise ValueError('"backfill" dates must be written YYYY-MM-DD') from None
    earliest = years_before(today, PAST_YEARS)
    if last < first:
        raise ValueError('"backfill": "to" must not be before "from"')
    if (last - first).days >= MAX_BACKFILL_DAYS:
        raise ValueError(f'"backfill": at most {MAX_BACKFILL_DAYS} days a request; repeat it for more')
    if first < earliest or last > today:
        raise ValueError(f'"backfill": dates must be from {earliest} to {today}')
    return first, last
