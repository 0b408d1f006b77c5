"""The `Allocator`: the service's operations, each a domain decision on the slot as read, written in one
conditional replace.

It composes the parts: the `SlotWriter` (the one fenced write path, and what an Idempotency-Key's
record answers), the `EventRelay` (events on the bus), the `Rescheduler` and the `NoShowSweeper`.
The commands on one slot or one booking are decided here and written by the writer; reads go
straight to the store (`opd.service.reads`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from opd import domain
from opd.domain import Booking, CancelReason, Capacity, Slot, Source, Status
from opd.errors import NotFound
from opd.ports import EventBacklog, EventPublisher, KeyClaim, SlotMutex, SlotRepository
from opd.service import reads
from opd.service.ids import new_booking_id, new_slot_id, new_status_code, utc_now
from opd.service.relay import EventRelay
from opd.service.reports import (
    Booked,
    BookingsPage,
    CallNext,
    LeaveTaken,
    RelayReport,
    ReschedulesReport,
    SessionsOpened,
    SweepReport,
)
from opd.service.rescheduler import Rescheduler
from opd.service.sweep import NoShowSweeper
from opd.service.writer import OUTCOME_WAIT_S, Decision, RequestKey, SlotWriter
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.lock import SlotLock
    from opd.store import SlotStore


class Allocator[Store: SlotRepository = SlotStore, Mutex: SlotMutex = SlotLock]:
    """The service over any slot repository and slot mutex.

    Generic in the two so that whoever assembles it keeps their adapters' own types (the runtime
    and the tests reach `allocator.store` as the store they built); a bare `Allocator` is the one
    over MongoDB and Redis.

    `clock` and `settings` may be replaced on a built allocator (the tests fix the clock): each
    is a property whose setter hands the new value to every part that uses it. The store, the
    lock, the publisher and `outcome_wait_s` are fixed at construction.
    """

    def __init__(
        self,
        store: Store,
        lock: Mutex,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utc_now,
        outcome_wait_s: float = OUTCOME_WAIT_S,
        publisher: EventPublisher | None = None,
        backlog: EventBacklog | None = None,
    ) -> None:
        self._store = store
        self._lock = lock
        self._settings = settings or Settings()
        self._clock = clock
        self.relay = EventRelay(store, lock, publisher, self._settings, backlog)
        self.writer = SlotWriter(store, lock, self._settings, clock, self.relay, outcome_wait_s)
        self.rescheduler = Rescheduler(store, self.writer, self._settings, clock)
        self.sweeper = NoShowSweeper(store, self.writer, self.rescheduler, self._settings)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def lock(self) -> Mutex:
        return self._lock

    @property
    def publisher(self) -> EventPublisher | None:
        return self.relay.publisher

    @property
    def outcome_wait_s(self) -> float:
        return self.writer.outcome_wait_s

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = self.writer.clock = self.rescheduler.clock = clock

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self.relay.settings = self.writer.settings = self.rescheduler.settings = self.sweeper.settings = settings

    # -- slots -----------------------------------------------------------------------------

    def create_slot(self, doctor_id: str, start: datetime, end: datetime, capacity: Capacity | None = None) -> Slot:
        now = self.clock()
        grace = self.settings.no_show_grace_minutes
        slot = domain.new_slot(new_slot_id(), doctor_id, start, end, capacity or Capacity(), now, grace)
        self._require_room(doctor_id, [slot.start])
        slot = domain.with_events(None, slot, now)  # SlotCreated, inserted with the slot
        self.store.insert(slot)
        self.relay.publish_new([slot])
        return slot

    def open_sessions(self, doctor_id: str, plan: domain.SessionPlan) -> SessionsOpened:
        """The slots of a doctor's recurring session, in one bulk write; slots that exist stay as they are.

        A repeat creates nothing more and names what exists, so a request cut off halfway is
        finished by sending it again.
        """
        domain.require_id("doctorId", doctor_id)
        now = self.clock()
        grace = self.settings.no_show_grace_minutes
        planned = [
            domain.with_events(
                None, domain.new_slot(new_slot_id(), doctor_id, start, end, plan.capacity, now, grace), now
            )
            for start, end in domain.session_times(plan, self.settings.clinic_zone)
            if end > now  # a slot already over cannot be opened
        ]
        self._require_room(doctor_id, [slot.start for slot in planned])  # DAY_FULL: nothing is made on any day
        existing = self.store.insert_all(planned)
        created = [s for s in planned if s.start not in existing]
        self.relay.publish_new(created)
        return SessionsOpened(
            created=created,
            existing=[existing[s.start] for s in planned if s.start in existing],  # in the session's order
        )

    def _require_room(self, doctor_id: str, starts: list[datetime]) -> None:
        """409 DAY_FULL, before anything is written, if slots starting at `starts` would leave the doctor
        more than domain.MAX_SLOTS_PER_DAY on a clinic date (a start the doctor has is not a new slot).

        One query, whatever the request: the starts the doctor has from the first date's midnight to the
        end of the last date, on the unique index (doctorId, start), grouped by clinic date in pure code.

        Not exact under concurrency, and not made so: two requests for one doctor at the same moment may
        each count before the other's insert lands, and both pass. What bounds it: each request passes only
        if the date, as it counted it, stays within 100 with what it adds, so k requests racing on one date
        leave it at most k x 100 slots (POST /slots adds one each: at most 99 + k), and the next request
        counts them all and is refused. Only admins make slots, and two opening one doctor's same date in
        the same few milliseconds is rare; a leave of such a day still closes every slot, one write each,
        in proportionally more time (benchmarks/leave.py).
        """
        if not starts:
            return
        zone = self.settings.clinic_zone
        days = sorted({domain.clinic_day(start, zone) for start in starts})
        existing = self.store.slot_starts(doctor_id, *domain.clinic_days(days[0], days[-1], zone))
        domain.require_room(existing, starts, zone)

    def take_leave(self, doctor_id: str, day: date, by: str) -> LeaveTaken:
        """Close every slot of the doctor's day and cancel its waiting patients, one slot's write at a time.

        A failure halfway leaves some slots done and the rest untouched; a repeat finishes the job
        and changes nothing more where it was done.

        A day holds at most 100 slots (domain.MAX_SLOTS_PER_DAY) and this stays well inside the function's
        timeout with every one full (benchmarks/leave.py): the day is read in one query and each slot is
        written from that read (3 round trips: lock, conditional write, release; a slot written since is
        read again and decided again, as any change); each slot's events are published in the background
        while the next is written, several slots' at once, and one script raises all their relay markers.
        """
        slots = self.doctor_slots(doctor_id, day)
        cancelled: list[Booking] = []

        def decide(current: Slot) -> Decision[list[Booking]]:
            return domain.close_for_leave(current, self.clock(), by)

        # Each slot's events go to the bus while the next slot is written; all are waited for before the
        # answer, also when a slot stops the request (429, 503): the slots before it are written.
        with self.relay.publishing() as publish:
            for slot in slots:
                cancelled.extend(self.writer.change(slot.slot_id, decide, read=slot, publish=publish))
        return LeaveTaken(slots=len(slots), cancelled=cancelled)

    def get_slot(self, slot_id: str) -> Slot:
        return reads.get_slot(self.store, slot_id)

    def doctor_slots(self, doctor_id: str, day: date) -> list[Slot]:
        """The doctor's slots starting on `day` in the clinic's time zone, by start."""
        return reads.doctor_slots(self.store, self.settings, doctor_id, day)

    def set_delay(self, slot_id: str, delayed: bool, minutes: int | None = None) -> Slot:
        def decide(slot: Slot) -> Decision[Slot]:
            changed = domain.set_delay(slot, delayed, minutes, self.clock(), self.settings.delay_reduction_percent)
            return changed, changed

        return self.writer.change(slot_id, decide)

    def queue(self, slot_id: str) -> list[Booking]:
        """The slot's CALLED, CHECKED_IN and BOOKED bookings in call order, each with its standing."""
        slot, now = self.get_slot(slot_id), self.clock()
        return domain.answered_all(slot, domain.call_order(slot.bookings), now)

    def waitlist(self, slot_id: str) -> list[Booking]:
        """The slot's WAITLISTED bookings in the order they joined, each with its 1-based waitlist position."""
        slot = self.get_slot(slot_id)
        return domain.answered_all(slot, slot.waitlist, self.clock())

    def call_next(self, slot_id: str, by: str) -> CallNext:
        """In one write: the patient in the room is done, and the first CHECKED_IN one is called in."""

        def decide(slot: Slot) -> Decision[CallNext]:
            changed, completed, called = domain.call_next(slot, self.clock(), by)
            return changed, CallNext(*(self._answered(changed or slot, b) for b in (completed, called)))

        return self.writer.change(slot_id, decide)

    # -- bookings --------------------------------------------------------------------------

    def book(
        self,
        slot_id: str,
        patient_id: str,
        source: Source,
        key: RequestKey | None = None,
        by: str = domain.SYSTEM,
        waitlist: bool = False,
        phone: str | None = None,
    ) -> Booking:
        asked = domain.BookingOptions(by=by, waitlist=waitlist, phone=phone)
        return self.book_once(slot_id, patient_id, source, key, asked).booking

    def book_once(
        self,
        slot_id: str,
        patient_id: str,
        source: Source,
        key: RequestKey | None = None,
        asked: domain.BookingOptions = domain.ASKED_PLAINLY,
    ) -> Booked:
        """Book, at most once per Idempotency-Key: a repeat gets the first answer, whatever failed in between.

        `asked`: who asks (`by`), whether a full tier puts the patient on the waitlist, the booking's phone and
        language; the rest of the options (the waitlist's limit, the key's hashes, the status code) are the
        service's own.

        The key is kept in the booking itself, written by the same conditional replace that books,
        so the booking and its key are stored together or not at all. A repeat reads the slot
        (the body's slotId), finds the booking with its key and answers it: one round trip, even
        while Redis is down. No in-progress marker exists that a dead request could leave behind;
        duplicates in flight at once are kept to one booking by the version fence: the loser's
        write fails, it reads again and finds the winner's booking. Redis holds only what the slot
        cannot: the slot a key was first used with, and a first answer that was a refusal.
        """
        booking_id = new_booking_id(slot_id)
        options = replace(
            asked,
            waitlist_limit=self.settings.waitlist_limit,
            idempotency_key=key.key if key is not None else None,
            request_hash=key.body if key is not None else None,
            status_code=new_status_code(),  # made once, like the id: a write decided again books the same
        )

        def decide(slot: Slot) -> Decision[Booked]:
            # Our own write, applied but its reply lost, must not book twice.
            if (ours := slot.booking(booking_id)) is not None:
                return None, Booked(domain.answered(slot, ours, self.clock()), replayed=False)
            theirs = reads.archived_of_patient(self.store, slot, patient_id)
            if key is not None and (first := domain.booking_for_key((*slot.bookings, *theirs), key.key, key.body)):
                return None, Booked(domain.answered(slot, first.as_created(), self.clock()), replayed=True)
            now, reduction = self.clock(), self.settings.delay_reduction_percent
            changed, booking = domain.book(
                slot, booking_id, patient_id, source, now, reduction, replace(options, archived=theirs)
            )
            return changed, Booked(domain.answered(changed, booking, now), replayed=False)

        claim = None if key is None else KeyClaim(key.key, slot_id, key.body, key.ttl_s)
        return self.writer.change(slot_id, decide, claim)

    def get_booking(self, booking_id: str) -> Booking:
        slot, booking = reads.find_booking(self.store, booking_id)
        return domain.answered(slot, booking, self.clock())

    def booking_status(self, code: str) -> domain.BookingStatus:
        """What the status link with `code` shows (contract, "Status links"): NotFound for a code no booking has."""
        slot, booking = reads.booking_of_status_code(self.store, code)
        return domain.booking_status(slot, booking, self.clock())

    def patient_bookings(
        self, patient_id: str, first_day: date | None = None, last_day: date | None = None, after: str | None = None
    ) -> BookingsPage:
        """A page of the patient's bookings, in every state, from `first_day` to `last_day`, after the cursor
        `after`, and the cursor of the next page (see `reads.patient_bookings`)."""
        return reads.patient_bookings(self.store, self.settings, self.clock, patient_id, first_day, last_day, after)

    def cancel(self, booking_id: str, by: str = domain.SYSTEM, reason: CancelReason = CancelReason.STAFF) -> Booking:
        return self._transition(booking_id, Status.CANCELLED, by, reason)

    def check_in(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._transition(booking_id, Status.CHECKED_IN, by)

    def mark_no_show(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._transition(booking_id, Status.NO_SHOW, by)

    def complete(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._transition(booking_id, Status.COMPLETED, by)

    def skip(self, booking_id: str, by: str) -> Booking:
        """A called patient who did not come in: to the end of their group, or a no-show at the 3rd skip."""
        pct = self.settings.delay_reduction_percent
        return self._change_booking(booking_id, lambda slot, booking: domain.skip(slot, booking, self.clock(), by, pct))

    def _answered(self, slot: Slot, booking: Booking | None) -> Booking | None:
        return None if booking is None else domain.answered(slot, booking, self.clock())

    def _transition(self, booking_id: str, to: Status, by: str, reason: CancelReason | None = None) -> Booking:
        pct = self.settings.delay_reduction_percent

        def change(slot: Slot, booking: Booking) -> tuple[Slot, Booking]:
            return domain.transition(slot, booking, to, self.clock(), by, pct, reason)

        return self._change_booking(booking_id, change)

    def _change_booking(self, booking_id: str, change: Callable[[Slot, Booking], tuple[Slot, Booking]]) -> Booking:
        # The booking id names its slot, so no query is needed to find it.
        slot_id = domain.slot_id_of_booking(booking_id)
        if slot_id is None:
            raise NotFound(f"no booking {booking_id}")

        def decide(slot: Slot) -> Decision[Booking]:
            # A finished booking that left its slot is read from the archive, only to be refused as final.
            booking = slot.booking(booking_id) or self.store.archive.get(booking_id)
            if booking is None:
                raise NotFound(f"no booking {booking_id}")
            changed, moved = change(slot, booking)
            return changed, domain.answered(changed, moved, self.clock())

        try:
            return self.writer.change(slot_id, decide)
        except NotFound:
            raise NotFound(f"no booking {booking_id}") from None

    # -- rescheduling, the no-show sweep, the event relay ------------------------------------

    def reschedule(
        self, booking_id: str, target_slot_id: str, by: str = domain.SYSTEM, key: RequestKey | None = None
    ) -> Booking:
        """Reschedule a BOOKED booking to another slot; answers the new booking (see `Rescheduler.reschedule`)."""
        return self.rescheduler.reschedule(booking_id, target_slot_id, by, key)

    def sweep_no_shows(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> SweepReport:
        """Finish the reschedules left half done, then mark BOOKED bookings of slots past start + grace as NO_SHOW,
        one slot at a time, stopping cleanly when `time_left` runs short (see `NoShowSweeper.sweep`)."""
        return self.sweeper.sweep(now or self.clock(), time_left, batch_size, reserve_s)

    def finish_reschedules(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> ReschedulesReport:
        """Finish the reschedules that requests left half done (see `Rescheduler.finish_reschedules`)."""
        return self.rescheduler.finish_reschedules(now, time_left, batch_size, reserve_s)

    def relay_events(
        self, time_left: Callable[[], float] | None = None, batch_size: int = 100, reserve_s: float = 2.0
    ) -> RelayReport:
        """Publish every event that requests left unpublished, and drop published ones from the outboxes
        (see `EventRelay.relay_events`)."""
        return self.relay.relay_events(time_left, batch_size, reserve_s)
