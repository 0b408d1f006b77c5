"""The allocator's operations: domain decisions on the slot as read, written in one conditional replace.

Dependencies come in as parameters (store, lock, settings, clock), typed by the ports in
`opd.ports`, so the handlers, the local runner and the tests all assemble the same service around
different adapters: MongoDB and Redis in AWS and locally, in-memory fakes in the unit tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, TypeVar

from opd import domain, events
from opd.domain import Booking, CancelReason, Capacity, Event, Slot, Source, Status
from opd.errors import (
    DependencyUnavailable,
    IdempotencyConflict,
    NotFound,
    OpdError,
    OutcomeUnknown,
    SlotBusy,
    ValidationFailed,
    WriteNotAcknowledged,
    refusal,
)
from opd.ports import EventPublisher, Held, KeyClaim, KeyRecord, SlotMutex, SlotRepository
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.lock import SlotLock
    from opd.store import SlotStore

T = TypeVar("T")
Decision = tuple[Slot | None, T]  # (the slot to write, or None when nothing changes; the answer)

log = logging.getLogger(__name__)

KEY_TTL_S = 86_400  # how long Redis remembers a key's slot and refusal; a booking keeps its key for good
OUTCOME_WAIT_S = 2.0  # how long to keep asking MongoDB whether a write whose reply was lost was applied
# A patient's bookings (GET /patients/{id}/bookings): from `from` to `to`, both clinic days included.
BOOKINGS_DEFAULT_DAYS = 30  # `to` left out: this many days after `from` (itself today when left out)
BOOKINGS_MAX_DAYS = 92  # `to` at most this many days after `from`
# Slots one listing reads at most, earliest first. A patient is in a handful of slots in 92 days; the cap
# bounds what one request can cost, e.g. for a shared placeholder id that a desk books every walk-in under.
BOOKINGS_MAX_SLOTS = 500
# After the bus failed a request, this environment's requests leave their events to the relay for
# this long instead of each waiting out the bus's timeouts.
PUBLISH_PAUSE_S = 30.0


def utc_now() -> datetime:
    """Now, to the millisecond: BSON keeps milliseconds, so what we answer equals what we store."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_slot_id() -> str:
    return f"slot-{secrets.token_hex(12)}"


def new_booking_id(slot_id: str) -> str:
    return f"{slot_id}.{secrets.token_hex(8)}"


@dataclass(frozen=True)
class RequestKey:
    """An Idempotency-Key as the allocator sees it: hashes only, so no caller's text is stored."""

    key: str  # a hash of (caller, Idempotency-Key): two callers never share a key
    body: str  # a hash of the request body: the same key with another body is a conflict
    ttl_s: int = KEY_TTL_S


@dataclass(frozen=True)
class Booked:
    booking: Booking
    replayed: bool  # the first answer of an earlier request with the same key: nothing was booked now


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
class MovesReport:
    finished: int  # reschedules completed: the new booking holds the place, the old one is cancelled
    abandoned: int  # reschedules the target refused: the patient keeps the old place
    busy: int  # moves left for the next run because a lock was held
    complete: bool  # False when it stopped early to respect the caller's deadline


@dataclass(frozen=True)
class RelayReport:
    published: int  # events this run put on the bus
    slots: int  # slots whose outbox it looked at
    pruned: int  # slots whose published events it dropped from their outbox
    pending: int  # events still unpublished when it finished (the bus refused them)
    finished: bool  # False when it stopped early to respect the caller's deadline


@dataclass(frozen=True)
class SweepReport:
    marked: int  # bookings this run turned into NO_SHOW
    slots: int  # slots it changed
    busy: int  # slots (and moves) left for the next run because their lock was held
    finished: bool  # False when it stopped early to respect the caller's deadline
    moves_finished: int = 0  # reschedules a request left unfinished, completed by this run
    moves_abandoned: int = 0  # such reschedules the target refused: the patient keeps the old place


def _transient(error: OpdError) -> bool:
    """Worth a retry (busy, a dependency away): says nothing final about the request."""
    return isinstance(error, SlotBusy | DependencyUnavailable)


class Allocator[Store: SlotRepository = SlotStore, Mutex: SlotMutex = SlotLock]:
    """The service over any slot repository and slot mutex.

    Generic in the two so that whoever assembles it keeps their adapters' own types (the runtime
    and the tests reach `allocator.store` as the store they built); a bare `Allocator` is the one
    over MongoDB and Redis.
    """

    def __init__(
        self,
        store: Store,
        lock: Mutex,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utc_now,
        outcome_wait_s: float = OUTCOME_WAIT_S,
        publisher: EventPublisher | None = None,
    ) -> None:
        self.store = store
        self.lock = lock
        self.settings = settings or Settings()
        self.clock = clock
        self.outcome_wait_s = outcome_wait_s
        # Without one, events wait in the outbox for the relay (and a slot refuses changes at the backlog's bound).
        self.publisher = publisher
        self._publishing_paused_until = 0.0

    # -- slots -----------------------------------------------------------------------------

    def create_slot(self, doctor_id: str, start: datetime, end: datetime, capacity: Capacity | None = None) -> Slot:
        now = self.clock()
        slot = domain.new_slot(new_slot_id(), doctor_id, start, end, capacity or Capacity(), now)
        slot = domain.with_events(None, slot, now)  # SlotCreated, inserted with the slot
        self.store.insert(slot)
        self._publish_new([slot])
        return slot

    def open_sessions(self, doctor_id: str, plan: domain.SessionPlan) -> SessionsOpened:
        """The slots of a doctor's recurring session, in one bulk write; slots that exist stay as they are.

        A repeat creates nothing more and names what exists, so a request cut off halfway is
        finished by sending it again.
        """
        domain.require_id("doctorId", doctor_id)
        now = self.clock()
        planned = [
            domain.with_events(None, domain.new_slot(new_slot_id(), doctor_id, start, end, plan.capacity, now), now)
            for start, end in domain.session_times(plan, self.settings.clinic_zone)
            if end > now  # a slot already over cannot be opened
        ]
        existing = self.store.insert_all(planned)
        created = [s for s in planned if s.start not in existing]
        self._publish_new(created)
        return SessionsOpened(
            created=created,
            existing=[existing[s.start] for s in planned if s.start in existing],  # in the session's order
        )

    def take_leave(self, doctor_id: str, day: date, by: str) -> LeaveTaken:
        """Close every slot of the doctor's day and cancel its waiting patients, one slot's write at a time.

        A failure halfway leaves some slots done and the rest untouched; a repeat finishes the job
        and changes nothing more where it was done.
        """
        slots = self.doctor_slots(doctor_id, day)
        cancelled: list[Booking] = []
        for slot in slots:

            def decide(current: Slot) -> Decision[list[Booking]]:
                return domain.close_for_leave(current, self.clock(), by)

            cancelled.extend(self._change(slot.slot_id, decide))
        return LeaveTaken(slots=len(slots), cancelled=cancelled)

    def get_slot(self, slot_id: str) -> Slot:
        slot = self.store.get(slot_id)
        if slot is None:
            raise NotFound(f"no slot {slot_id}")
        return slot

    def doctor_slots(self, doctor_id: str, day: date) -> list[Slot]:
        """The doctor's slots starting on `day` in the clinic's time zone, by start."""
        domain.require_id("doctorId", doctor_id)
        midnight = datetime.combine(day, clock_time(), tzinfo=self.settings.clinic_zone)
        next_midnight = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=self.settings.clinic_zone)
        return self.store.doctor_slots(doctor_id, midnight, next_midnight)

    def set_delay(self, slot_id: str, delayed: bool, minutes: int | None = None) -> Slot:
        def decide(slot: Slot) -> Decision[Slot]:
            changed = domain.set_delay(slot, delayed, minutes, self.clock(), self.settings.delay_reduction_percent)
            return changed, changed

        return self._change(slot_id, decide)

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

        return self._change(slot_id, decide)

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
        return self.book_once(slot_id, patient_id, source, key, by, waitlist, phone).booking

    def book_once(
        self,
        slot_id: str,
        patient_id: str,
        source: Source,
        key: RequestKey | None = None,
        by: str = domain.SYSTEM,
        waitlist: bool = False,
        phone: str | None = None,
    ) -> Booked:
        """Book, at most once per Idempotency-Key: a repeat gets the first answer, whatever failed in between.

        The key is kept in the booking itself, written by the same conditional replace that books,
        so the booking and its key are stored together or not at all. A repeat reads the slot
        (the body's slotId), finds the booking with its key and answers it: one round trip, even
        while Redis is down. No in-progress marker exists that a dead request could leave behind;
        duplicates in flight at once are kept to one booking by the version fence: the loser's
        write fails, it reads again and finds the winner's booking. Redis holds only what the slot
        cannot: the slot a key was first used with, and a first answer that was a refusal.
        """
        booking_id = new_booking_id(slot_id)
        key_hash, body_hash = (key.key, key.body) if key is not None else (None, None)

        def decide(slot: Slot) -> Decision[Booked]:
            # Our own write, applied but its reply lost, must not book twice.
            if (ours := slot.booking(booking_id)) is not None:
                return None, Booked(domain.answered(slot, ours, self.clock()), replayed=False)
            if key is not None and (first := slot.booking_for_key(key.key, key.body)) is not None:
                return None, Booked(domain.answered(slot, first.as_created(), self.clock()), replayed=True)
            now, reduction = self.clock(), self.settings.delay_reduction_percent
            changed, booking = domain.book(
                slot,
                booking_id,
                patient_id,
                source,
                now,
                reduction,
                key_hash,
                body_hash,
                by=by,
                waitlist=waitlist,
                waitlist_limit=self.settings.waitlist_limit,
                phone=phone,
            )
            return changed, Booked(domain.answered(changed, booking, now), replayed=False)

        claim = None if key is None else KeyClaim(key.key, slot_id, key.body, key.ttl_s)
        return self._change(slot_id, decide, claim)

    def get_booking(self, booking_id: str) -> Booking:
        slot, booking = self._find_booking(booking_id)
        return domain.answered(slot, booking, self.clock())

    def patient_bookings(
        self, patient_id: str, first_day: date | None = None, last_day: date | None = None
    ) -> list[Booking]:
        """The patient's bookings, in every state, in the slots starting from `first_day` to `last_day` (clinic
        days, both included; default today and 30 days on), by slot start, each answered with its standing.

        One indexed query (SlotStore.patient_slots), at most BOOKINGS_MAX_SLOTS slots, and no lock.
        """
        domain.require_id("patientId", patient_id)
        zone = self.settings.clinic_zone
        now = self.clock()
        first = first_day or now.astimezone(zone).date()
        last = last_day or first + timedelta(days=BOOKINGS_DEFAULT_DAYS)
        if last < first:
            raise ValidationFailed.field("to", f"must not be before from ({first})")
        if (last - first).days > BOOKINGS_MAX_DAYS:
            raise ValidationFailed.field("to", f"must be at most {BOOKINGS_MAX_DAYS} days after from ({first})")
        opens = datetime.combine(first, clock_time(), tzinfo=zone)
        closes = datetime.combine(last + timedelta(days=1), clock_time(), tzinfo=zone)
        slots = self.store.patient_slots(patient_id, opens, closes, BOOKINGS_MAX_SLOTS)
        if len(slots) == BOOKINGS_MAX_SLOTS:
            log.warning(
                "a patient's bookings from %s to %s: listed from their first %d slots only", first, last, len(slots)
            )
        return [
            booking
            for slot in slots
            for booking in domain.answered_all(slot, [b for b in slot.bookings if b.patient_id == patient_id], now)
        ]

    def cancel(self, booking_id: str, by: str = domain.SYSTEM, reason: CancelReason = CancelReason.STAFF) -> Booking:
        return self._move(booking_id, Status.CANCELLED, by, reason)

    def check_in(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._move(booking_id, Status.CHECKED_IN, by)

    def mark_no_show(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._move(booking_id, Status.NO_SHOW, by)

    def complete(self, booking_id: str, by: str = domain.SYSTEM) -> Booking:
        return self._move(booking_id, Status.COMPLETED, by)

    def skip(self, booking_id: str, by: str) -> Booking:
        """A called patient who did not come in: to the end of their group, or a no-show at the 3rd skip."""
        pct = self.settings.delay_reduction_percent
        return self._change_booking(booking_id, lambda slot, booking: domain.skip(slot, booking, self.clock(), by, pct))

    # -- rescheduling ----------------------------------------------------------------------

    def reschedule(
        self, booking_id: str, target_slot_id: str, by: str = domain.SYSTEM, key: RequestKey | None = None
    ) -> Booking:
        """Move a BOOKED booking to another slot; answers the new booking.

        Three writes, each one slot's conditional replace, and no transaction across them:

        1. the old slot: the booking is marked `rescheduled_to` = the new booking's id, made up here
           once and kept in the mark; it keeps its place meanwhile (`domain.begin_reschedule`);
        2. the target slot: the new booking, with exactly that id, so that writing it again is a
           no-op (`domain.place_move`); or, if the target refuses, that refusal recorded under the
           id, so that the booking is never made there afterwards (`domain.refuse_move`);
        3. the old slot: the old booking CANCELLED (RESCHEDULED) if the new one was made, else its
           mark cleared: the patient keeps the old place.

        The mark is what a repeat and the sweeper (`finish_moves`) go on: whoever finds it does
        writes 2 and 3 with the id it holds, so a request that died between any two writes is
        finished by either, and two of them at once agree, since write 2 decides once, in the
        target, whether the move happens. A repeat after the move returns the new booking as first
        answered. A full target is refused before anything is written (read first); only a target
        that fills up between that check and write 2 costs a mark and its clearing.

        With an Idempotency-Key: the key is claimed (in Redis, as for a booking) by write 1 and
        kept in the new booking, so the same key with another booking or target is a conflict, and
        a refusal is remembered as the key's first answer. `key.body` need not cover the booking id:
        it is folded in here.
        """
        old_slot_id = domain.slot_id_of_booking(booking_id)
        if old_slot_id is None:
            raise NotFound(f"no booking {booking_id}")
        domain.require_id("slotId", target_slot_id)
        if target_slot_id == old_slot_id:
            raise ValidationFailed.field("slotId", "must be another slot than the booking's own")
        if key is not None:
            key = replace(key, body=hashlib.sha256(f"reschedule {booking_id} {key.body}".encode()).hexdigest()[:32])
        claim = None if key is None else KeyClaim(key.key, target_slot_id, key.body, key.ttl_s)
        now = self.clock()
        old_slot, old = self._find_booking(booking_id)
        if (done := _moved_to(old, target_slot_id)) is not None:
            return self._first_answer_of_move(done, key, now)

        def first_answer(refused: OpdError) -> OpdError:
            return refused if claim is None or _transient(refused) else self._first_answer(claim, refused)

        new_id = old.rescheduled_to if _heading_to(old, target_slot_id) else None
        target: Slot | None = None
        if new_id is None:
            candidate = new_booking_id(target_slot_id)
            try:
                # Refuse before writing anything: a booking that cannot move (not BOOKED, or moving
                # elsewhere), a target that would refuse it (full, closed, ended, the patient there).
                domain.begin_reschedule(old_slot, old, candidate)
                target = self.get_slot(target_slot_id)
                if (new_id := _placed_for(target, booking_id)) is not None:  # a duplicate in flight got here first
                    if key is not None:
                        target.booking_for_key(key.key, key.body)
                else:
                    self._place(target, old, candidate, now, key, by)
            except OpdError as refused:
                raise first_answer(refused) from None

            def mark(slot: Slot) -> Decision[str]:
                booking = slot.booking(booking_id)
                if booking is None:
                    raise NotFound(f"no booking {booking_id}")
                if (moved := _moved_to(booking, target_slot_id)) is not None:  # a duplicate in flight did it
                    return None, moved
                heading = booking.rescheduled_to if _heading_to(booking, target_slot_id) else candidate
                assert heading is not None
                changed = domain.begin_reschedule(slot, booking, heading)
                return (None if changed is slot else changed), heading

            if new_id is None:
                new_id = self._change(old_slot_id, mark, claim, read=old_slot)  # write 1
        settled = self._settle_move(old, new_id, now, by, key, target)
        if isinstance(settled, OpdError):
            raise first_answer(settled)
        return settled

    def _first_answer_of_move(self, new_id: str, key: RequestKey | None, now: datetime) -> Booking:
        """A repeat of a move that is done: the new booking as the move first answered it."""
        slot, booking = self._find_booking(new_id)
        if key is not None:
            slot.booking_for_key(key.key, key.body)  # the same key with another body: a conflict
        return domain.answered(slot, booking.as_created(), now)

    def _place(
        self, target: Slot, old: Booking, new_id: str, now: datetime, key: RequestKey | None, by: str
    ) -> Decision[Booking]:
        key_hash, body_hash = (key.key, key.body) if key is not None else (None, None)
        pct = self.settings.delay_reduction_percent
        changed, placed = domain.place_move(target, old, new_id, now, pct, key_hash, body_hash, by)
        return changed, domain.answered(changed or target, placed, now)

    def _settle_move(
        self,
        old: Booking,
        new_id: str,
        now: datetime,
        by: str,
        key: RequestKey | None = None,
        target: Slot | None = None,
    ) -> Booking | OpdError:
        """Writes 2 and 3 of a move whose mark (`old.rescheduled_to` = `new_id`) is written.

        Returns the new booking as answered, or the target's refusal once the mark is cleared.
        Raises only what is worth a retry (a busy slot, a dependency away): the mark stays, and the
        next attempt or sweep goes on from it. `target`, if given, is the target slot as just read.
        """
        target_id = domain.slot_id_of_booking(new_id)
        assert target_id is not None  # made by `new_booking_id`
        try:
            placed: Booking | OpdError = self._change(
                target_id, lambda slot: self._place(slot, old, new_id, now, key, by), read=target
            )  # write 2
        except OpdError as refused:
            if _transient(refused):
                raise
            placed = refused if isinstance(refused, NotFound) else self._refuse_move(target_id, new_id, refused, now)
        pct = self.settings.delay_reduction_percent

        def finish(slot: Slot) -> Decision[None]:
            booking = slot.booking(old.booking_id)
            if booking is not None and booking.status is Status.CANCELLED and booking.rescheduled_to == new_id:
                return None, None  # finished already
            if booking is None or not booking.moving or booking.rescheduled_to != new_id:
                # Only if a refusal was dropped from the target (MAX_REFUSED_MOVES in a day) while
                # some attempt stalled: it made the new booking after the mark was cleared.
                log.error("reschedule %s -> %s: the mark is gone, the new booking is made", old.booking_id, new_id)
                raise OpdError(f"booking {old.booking_id} is no longer being rescheduled to {new_id}")
            return domain.finish_reschedule(slot, booking, now, by, pct)[0], None

        def abandon(slot: Slot) -> Decision[None]:
            booking = slot.booking(old.booking_id)
            if booking is None or booking.rescheduled_to != new_id:
                return None, None
            return domain.abandon_reschedule(slot, booking), None

        self._change(old.slot_id, finish if isinstance(placed, Booking) else abandon)  # write 3
        return placed

    def _refuse_move(self, target_id: str, new_id: str, refused: OpdError, now: datetime) -> Booking | OpdError:
        """Record the target's refusal of the new booking, unless someone made it meanwhile: then that booking."""

        def refuse(slot: Slot) -> Decision[Booking | OpdError]:
            if (placed := slot.booking(new_id)) is not None:
                return None, domain.answered(slot, placed, now)
            return domain.refuse_move(slot, new_id, refused.code, now), refused

        return self._change(target_id, refuse)

    # -- the no-show sweep -----------------------------------------------------------------

    def sweep_no_shows(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> SweepReport:
        """Mark BOOKED bookings of slots past start + grace as NO_SHOW, one slot at a time.

        `time_left` (seconds, e.g. Lambda's remaining time) lets a run stop cleanly and leave the
        rest to the next one. A busy slot is skipped, not waited on: the next run takes it.
        """
        at = now or self.clock()
        grace = self.settings.no_show_grace_minutes
        # Moves first: a booking being moved is no no-show, and one whose move is abandoned here
        # is an ordinary BOOKED booking again, which this same run may then mark.
        moves = self.finish_moves(at, time_left, batch_size, reserve_s)
        marked = slots = 0
        busy = moves.busy

        def report(finished: bool) -> SweepReport:
            return SweepReport(marked, slots, busy, finished, moves.finished, moves.abandoned)

        if not moves.complete:
            return report(finished=False)
        for slot_id in self.store.slots_awaiting_sweep(domain.no_show_cutoff(at, grace), batch_size):
            if time_left is not None and time_left() < reserve_s:
                return report(finished=False)

            def decide(slot: Slot) -> Decision[int]:
                swept, newly = domain.mark_no_shows(slot, at, grace, self.settings.delay_reduction_percent)
                return (swept if swept != slot else None), len(newly)  # expiries alone are a change too

            try:
                count = self._change(slot_id, decide)
            except SlotBusy:
                busy += 1
                continue
            marked += count
            slots += 1 if count else 0
        return report(finished=True)

    def finish_moves(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> MovesReport:
        """Finish the reschedules that requests left half done: every booking still marked as moving.

        For each, the same writes 2 and 3 a repeat of its request would make: the new booking made
        in the target (or found there), then the old one cancelled; or, if the target refuses it
        (full, closed, ended), the mark cleared, and the patient keeps the old place. A move whose
        slot is busy is left for the next run, as is everything once `time_left` runs short.
        """
        at = now or self.clock()
        finished = abandoned = busy = 0
        for slot_id in self.store.slots_with_moves(batch_size):
            slot = self.store.get(slot_id)
            for booking in [b for b in slot.bookings if b.moving] if slot else []:
                if time_left is not None and time_left() < reserve_s:
                    return MovesReport(finished, abandoned, busy, complete=False)
                assert booking.rescheduled_to is not None  # it is moving
                try:
                    settled = self._settle_move(booking, booking.rescheduled_to, at, domain.SYSTEM)
                except SlotBusy:
                    busy += 1
                    continue
                if isinstance(settled, Booking):
                    finished += 1
                else:
                    abandoned += 1
        return MovesReport(finished, abandoned, busy, complete=True)

    # -- the one way a slot changes ---------------------------------------------------------

    def _change(
        self,
        slot_id: str,
        decide: Callable[[Slot], Decision[T]],
        claim: KeyClaim | None = None,
        read: Slot | None = None,
    ) -> T:
        """Read, decide in pure code, and only if something changes: lock, write, release.

        The write is a replace conditional on the version that was read, so it is correct whenever
        the read happened, before the lock or under it: if anyone wrote in between, it matches
        nothing and the decision is made again on fresh state (never resting on the lock's TTL).
        Reading before locking is what makes answers that change nothing cheap, and a keyed
        booking no dearer than a plain one. Round trips, uncontended:

        - a booking, keyed or not, a cancel, any move: find, EVAL (lock), update, EVAL (release) = 4
          (a key's Redis record is claimed inside the locking script);
        - a repeat of a keyed booking: find = 1; a refusal: find = 1 (keyed: + EVAL to remember it).

        Events: the write carries the change's events in the slot's outbox (`domain.with_events`),
        less those the relay marker (read by the locking script) says are published. Right after the
        write, still under the lock, they are put on the bus: one PutEvents per 10 pending events,
        a booking's 1 normally; the release script records what was published.

        Taking the lock first (the old order) costs the same 4 for a change, but 3 for a repeat or a
        refusal (lock, find, release), and a keyed repeat could not be answered while Redis is down.
        The price of reading first: a request that had to wait for the lock reads again under it
        (5), since what it read first is then likely stale; without that it would still be correct,
        only a write would be wasted. The lock keeps a slot's writers in single file so they rarely lose.
        A request whose wait for the lock runs out reads once more before answering 429 (see below).
        `read` is the slot as the caller has just read it, which saves reading it again.
        """
        slot = read or self.get_slot(slot_id)
        # A refusal (raised by `decide`), or an answer that changes nothing (a keyed repeat), is given
        # here from this one read, without the lock: it is true of the state that was read, the very
        # state a write would have been conditional on, so holding the lock could not make it truer.
        # A refusal is no promise about the next instant: a place freed a moment later is the next
        # request's. Only a change needs the lock.
        changed, answer = self._decided(slot, decide, claim)
        if changed is None:
            return answer
        try:
            held = self.lock.acquire(slot_id, claim)
        except SlotBusy:
            # The bounded wait ran out. The slot as it is now may answer without the lock, as above: a
            # hot slot that filled up while this request waited refuses it (true of this second read)
            # instead of sending it back in a second with 429. Only a change still wanted is busy.
            changed, answer = self._decided(self.get_slot(slot_id), decide, claim)
            if changed is None:
                return answer
            raise
        if isinstance(held, KeyRecord):
            raise self._recorded_answer(held, claim)
        published = None
        try:
            answer, written = self._write_decided(slot_id, held, slot, changed, answer, decide)
            if written is not None:
                published = self._publish_written(written)
            return answer
        except OpdError as refused:
            if claim is None or isinstance(refused, DependencyUnavailable | SlotBusy):
                raise
            raise self._first_answer(claim, refused) from None
        finally:
            # Also when the request fails: a lock left behind would hold the slot for its whole TTL.
            # The same script records what was published: the next writer's lock brings it back.
            self.lock.release_quietly(slot_id, held.owner, published)

    def _decided(self, slot: Slot, decide: Callable[[Slot], Decision[T]], claim: KeyClaim | None) -> Decision[T]:
        """`decide(slot)`; a refusal of a keyed request is answered as its key's first answer."""
        try:
            return decide(slot)
        except OpdError as refused:
            if claim is None:
                raise
            raise self._first_answer(claim, refused) from None

    def _write_decided(
        self,
        slot_id: str,
        held: Held,
        slot: Slot,
        changed: Slot | None,
        answer: T,
        decide: Callable[[Slot], Decision[T]],
    ) -> tuple[T, Slot | None]:
        """Under the lock: write what was decided, deciding again on fresh state whenever it lost.

        Returns the answer and the slot as written (None when nothing was)."""
        if held.waited:
            slot = self.get_slot(slot_id)
            changed, answer = decide(slot)
        for _ in range(self.settings.write_attempts):
            if changed is None:
                return answer, None
            outboxed = domain.with_events(slot, changed, self.clock(), held.relayed)
            fresh = self._write(outboxed, slot.version)
            if fresh is None:
                return answer, replace(outboxed, version=slot.version + 1)
            time.sleep(0.001)
            slot = fresh
            changed, answer = decide(slot)
        raise SlotBusy(f"slot {slot_id} kept changing under this request, try again", retry_after_seconds=1)

    def _write(self, changed: Slot, read_version: int) -> Slot | None:
        """Write `changed` if the slot is still at `read_version`: None once written, else the slot as it is now."""
        try:
            if self.store.replace(changed, read_version):
                return None
        except WriteNotAcknowledged:
            # MongoDB may have applied the write and lost only its reply. Read before answering: a
            # change that was made is answered as made, never as 503. If it was not made, the slot
            # is still at `read_version` and the caller decides (and writes, fenced) again. (Slots
            # compare without their outbox, which the relay may have pruned meanwhile.)
            fresh = self._read_after_lost_write(changed.slot_id)
            return None if fresh == replace(changed, version=read_version + 1) else fresh
        return self.get_slot(changed.slot_id)

    def _read_after_lost_write(self, slot_id: str) -> Slot:
        """The slot, asked again until MongoDB answers (a failover, a dropped connection) or time is up."""
        give_up_at = time.monotonic() + self.outcome_wait_s
        while True:
            try:
                return self.get_slot(slot_id)
            except DependencyUnavailable as exc:
                if time.monotonic() >= give_up_at:
                    raise OutcomeUnknown(
                        "mongo",
                        "MongoDB went away while the change was being written and may have applied it: "
                        "repeat the request (with the same Idempotency-Key) to learn whether it was made",
                    ) from exc
                time.sleep(0.05)

    # -- events: published right after the write, and by the relay for whatever that missed --

    def _publish_written(self, written: Slot) -> int | None:
        """Put the written slot's pending events on the bus; the version they are published through.

        Never fails the change, which is written: what is not published now stays in the outbox for
        the relay. After a failure of the bus, this environment leaves publishing to the relay for
        PUBLISH_PAUSE_S instead of making every request wait for the bus's timeouts."""
        if time.monotonic() < self._publishing_paused_until:
            return None
        marks, _ = self._publish({written.slot_id: (written, list(written.outbox))}, quietly=True)
        return marks.get(written.slot_id)

    def _publish_new(self, slots: list[Slot]) -> None:
        """New slots' events (SlotCreated), published together after their insert; their relay markers in one script."""
        if time.monotonic() < self._publishing_paused_until:
            return
        marks, _ = self._publish({slot.slot_id: (slot, list(slot.outbox)) for slot in slots}, quietly=True)
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:  # only costs a second publication by the relay
            log.warning("relay markers not recorded: %s", exc.message)

    def _publish(
        self, pending: dict[str, tuple[Slot, list[Event]]], quietly: bool = False
    ) -> tuple[dict[str, int], int]:
        """Publish the events given per slot (each rendered from its slot), several slots' in one
        PutEvents. Returns, per slot, the version its events are now published through (where that
        is known), and how many events the bus took.

        `quietly`: a bus that cannot be reached is logged (and pauses the request path), not raised."""
        if self.publisher is None:
            return {}, 0
        pct = self.settings.delay_reduction_percent
        entries = [entry for slot, outbox in pending.values() for entry in events.entries(slot, outbox, pct)]
        if not entries:
            return {}, 0
        try:
            done = self.publisher.publish(entries)
        except Exception as exc:  # whatever the bus's client raises: the changes are made, the relay publishes
            if not quietly:
                raise
            self._publishing_paused_until = time.monotonic() + PUBLISH_PAUSE_S
            log.warning("events not published, the relay will: %s: %s", type(exc).__name__, exc)
            return {}, 0
        marks = {}
        for slot_id, (_, outbox) in pending.items():
            through = domain.published_through(outbox, done)
            if through is not None:
                marks[slot_id] = through
        return marks, len(done)

    def relay_events(
        self, time_left: Callable[[], float] | None = None, batch_size: int = 100, reserve_s: float = 2.0
    ) -> RelayReport:
        """Publish every event that requests left unpublished, and drop published ones from the outboxes.

        The scheduled relay, every minute: slots with events are found by an index (`outboxPending`);
        a batch's relay markers come in one MGET; the events they do not cover are published
        (PutEvents, 10 a request, several slots' together); the markers are raised in one script;
        and each slot's outbox is pruned by an update conditional on its version, which it leaves as
        it is, so it never undoes a concurrent change (whose writer prunes by the marker instead).
        At least once: a lost marker, or a request publishing the same slot at that moment, sends
        an event twice, with the same eventId.
        """
        if self.publisher is None:
            raise DependencyUnavailable("events", "no event bus is configured (EVENT_BUS_NAME)")
        totals = [0, 0, 0, 0]  # published, slots, pruned, left pending
        batch: list[Slot] = []
        for slot in self.store.slots_with_events(batch_size):
            if not batch and time_left is not None and time_left() < reserve_s:
                return RelayReport(totals[0], totals[1], totals[2], totals[3], finished=False)
            batch.append(slot)
            if len(batch) == batch_size:
                totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
                batch = []
        if batch:
            totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
        return RelayReport(totals[0], totals[1], totals[2], totals[3], finished=True)

    def _relay_batch(self, batch: list[Slot]) -> tuple[int, int, int, int]:
        try:
            known = self.lock.published_marks([slot.slot_id for slot in batch])
        except DependencyUnavailable as exc:  # without markers, every event in the outboxes goes (again)
            log.warning("relay markers not read, publishing every outbox event: %s", exc.message)
            known = {}

        def unpublished(slot: Slot) -> list[Event]:
            mark = known.get(slot.slot_id)
            return [e for e in slot.outbox if mark is None or e.slot_version > mark]

        waiting = {slot.slot_id: (slot, unpublished(slot)) for slot in batch}
        marks, published = self._publish(waiting)
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:
            log.warning("relay markers not recorded: %s", exc.message)
        pruned = 0
        for slot in batch:
            through = marks.get(slot.slot_id, known.get(slot.slot_id))
            if through is not None and any(e.slot_version <= through for e in slot.outbox):
                try:
                    pruned += int(self.store.prune_outbox(slot, through))
                except DependencyUnavailable as exc:  # the next run, or the slot's next writer, prunes
                    log.warning("outbox of slot %s not pruned: %s", slot.slot_id, exc.message)
        left = sum(len(outbox) for _, outbox in waiting.values()) - published
        return published, len(batch), pruned, max(0, left)

    # -- what an Idempotency-Key's record says ----------------------------------------------

    def _first_answer(self, claim: KeyClaim, refused: OpdError) -> OpdError:
        """What a keyed request refused now answers: the key's first answer if Redis holds one, else this
        refusal, kept as the first answer. Best effort: without Redis, the refusal is answered as is."""
        if isinstance(refused, IdempotencyConflict):
            return refused
        first = json.dumps({"code": refused.code, "message": refused.message, "details": refused.details})
        try:
            record = self.lock.remember_refusal(claim, first)
        except DependencyUnavailable as exc:
            log.warning("refusal not remembered for its Idempotency-Key: %s", exc.message)
            return refused
        return refused if record is None else self._recorded_answer(record, claim)

    @staticmethod
    def _recorded_answer(record: KeyRecord, claim: KeyClaim | None) -> OpdError:
        if claim is None or not record.matches(claim) or record.refusal is None:
            return IdempotencyConflict("this Idempotency-Key was already used with a different body")
        first = json.loads(record.refusal)
        return refusal(first["code"], first["message"], first["details"])

    def _find_booking(self, booking_id: str) -> tuple[Slot, Booking]:
        slot_id = domain.slot_id_of_booking(booking_id)
        slot = self.store.get(slot_id) if slot_id else None
        booking = slot.booking(booking_id) if slot else None
        if slot is None or booking is None:
            raise NotFound(f"no booking {booking_id}")
        return slot, booking

    def _answered(self, slot: Slot, booking: Booking | None) -> Booking | None:
        return None if booking is None else domain.answered(slot, booking, self.clock())

    def _move(self, booking_id: str, to: Status, by: str, reason: CancelReason | None = None) -> Booking:
        pct = self.settings.delay_reduction_percent

        def change(slot: Slot, booking: Booking) -> tuple[Slot, Booking]:
            return domain.move(slot, booking, to, self.clock(), by, pct, reason)

        return self._change_booking(booking_id, change)

    def _change_booking(self, booking_id: str, change: Callable[[Slot, Booking], tuple[Slot, Booking]]) -> Booking:
        # The booking id names its slot, so no query is needed to find it.
        slot_id = domain.slot_id_of_booking(booking_id)
        if slot_id is None:
            raise NotFound(f"no booking {booking_id}")

        def decide(slot: Slot) -> Decision[Booking]:
            booking = slot.booking(booking_id)
            if booking is None:
                raise NotFound(f"no booking {booking_id}")
            changed, moved = change(slot, booking)
            return changed, domain.answered(changed, moved, self.clock())

        try:
            return self._change(slot_id, decide)
        except NotFound:
            raise NotFound(f"no booking {booking_id}") from None


def _moved_to(booking: Booking, target_slot_id: str) -> str | None:
    """The id of the booking this one was moved to in the target slot, if that move is done."""
    done = booking.status is Status.CANCELLED and booking.cancel_reason is CancelReason.RESCHEDULED
    heading = booking.rescheduled_to
    return heading if done and heading and domain.slot_id_of_booking(heading) == target_slot_id else None


def _placed_for(target: Slot, old_booking_id: str) -> str | None:
    """The id of a booking in the target slot that replaces `old_booking_id`: its move's mark is
    written, and the move can only finish (write 2 decides it), so it is that move's new booking."""
    return next((b.booking_id for b in target.bookings if b.rescheduled_from == old_booking_id), None)


def _heading_to(booking: Booking, target_slot_id: str) -> bool:
    """A move of this booking to the target slot is under way (marked, not yet finished)."""
    heading = booking.rescheduled_to
    return booking.moving and heading is not None and domain.slot_id_of_booking(heading) == target_slot_id
