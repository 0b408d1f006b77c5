"""What the service's operations answer besides slots and bookings: plain, frozen records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opd.domain import Booking, Slot


@dataclass(frozen=True)
class Booked:
    booking: Booking
    replayed: bool  # the first answer of an earlier request with the same key: nothing was booked now


@dataclass(frozen=True)
class BookingsPage:
    bookings: list[Booking]  # a page of a patient's bookings, each answered with its standing
    next: str | None  # the cursor that continues after the last of them; None when there are no more


@dataclass(frozen=True)
class SessionsOpened:
    created: list[Slot]
    existing: list[str]  # ids of slots that were there already, left as they were


@dataclass(frozen=True)
class LeaveTaken:
    slots: int  # the doctor's slots that day, now all closed
    cancelled: list[Booking]  # what this request cancelled (a repeat cancels nothing more)


@dataclass(frozen=True)
class CallNext:
    completed: Booking | None  # who was in the room and is now done
    called: Booking | None  # who is called in now


@dataclass(frozen=True)
class ReschedulesReport:
    finished: int  # reschedules completed: the new booking holds the place, the old one is cancelled
    abandoned: int  # reschedules the target refused: the patient keeps the old place
    busy: int  # reschedules left for the next run because a lock was held
    complete: bool  # False when it stopped early to respect the caller's deadline


@dataclass(frozen=True)
class RelayReport:
    published: int  # events this run put on the bus
    slots: int  # slots whose outbox it looked at
    pruned: int  # slots whose published events it dropped from their outbox
    pending: int  # events still unpublished when it finished (the bus refused them)
    finished: bool  # False when it stopped early to respect the caller's deadline
    from_backlog: int = 0  # of `published`, those that waited in the event backlog
    # When the oldest change happened whose events this run found unpublished (in the backlog or an outbox), whether
    # it then published them or not; None when it found none. Its age is how far behind publishing is.
    oldest_found: datetime | None = None


@dataclass(frozen=True)
class SweepReport:
    marked: int  # bookings this run turned into NO_SHOW
    slots: int  # slots it changed
    busy: int  # slots (and reschedules) left for the next run because their lock was held
    finished: bool  # False when it stopped early to respect the caller's deadline
    reschedules_finished: int = 0  # reschedules a request left unfinished, completed by this run
    reschedules_abandoned: int = 0  # such reschedules the target refused: the patient keeps the old place
