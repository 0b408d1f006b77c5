"""Rescheduling: a BOOKED booking rescheduled to another slot in three one-slot writes (see
`Rescheduler.reschedule`), and the reschedules that requests left half done finished by the sweep.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from opd import domain
from opd.domain import Booking, CancelReason, Slot, Status
from opd.errors import (
    OUTCOME_UNKNOWN,
    DependencyUnavailable,
    NotFound,
    OpdError,
    OutcomeUnknown,
    SlotBusy,
    ValidationFailed,
)
from opd.ports import KeyClaim, SlotRepository
from opd.service.ids import new_booking_id, new_status_code
from opd.service.reads import archived_of_patient, find_booking, get_slot
from opd.service.reports import ReschedulesReport
from opd.service.writer import Decision, RequestKey, SlotWriter
from opd.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Reschedule:
    """One reschedule request, as its steps need it."""

    booking_id: str
    target_slot_id: str
    now: datetime
    by: str
    key: RequestKey | None  # its body folded with the booking id
    claim: KeyClaim | None  # the key's claim, made by write 1


class Rescheduler:
    """Reschedules bookings between slots through the writer's fenced write path, one slot per write."""

    def __init__(
        self, store: SlotRepository, writer: SlotWriter, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.writer = writer
        self.settings = settings
        self.clock = clock

    def reschedule(
        self, booking_id: str, target_slot_id: str, by: str = domain.SYSTEM, key: RequestKey | None = None
    ) -> Booking:
        """Move a BOOKED booking to another slot; answers the new booking.

        Three writes, each one slot's conditional replace, and no transaction across them:

        1. the old slot: the booking is marked `rescheduled_to` = the new booking's id, made up here
           once and kept in the mark; it keeps its place meanwhile (`domain.begin_reschedule`);
        2. the target slot: the new booking, with exactly that id, so that writing it again is a
           no-op (`domain.place_rescheduled`); or, if the target refuses, that refusal recorded under the
           id, so that the booking is never made there afterwards (`domain.refuse_reschedule`);
        3. the old slot: the old booking CANCELLED (RESCHEDULED) if the new one was made, else its
           mark cleared: the patient keeps the old place.

        The mark is what a repeat and the sweeper (`finish_reschedules`) go on: whoever finds it does
        writes 2 and 3 with the id it holds, so a request that died between any two writes is
        finished by either, and two of them at once agree, since write 2 decides once, in the
        target, whether the reschedule happens. A repeat after it returns the new booking as first
        answered. A full target is refused before anything is written (read first); only a target
        that fills up between that check and write 2 costs a mark and its clearing.

        Once the mark is there (written now, or found), a dependency that goes away or a slot that stays
        busy stops the request with the reschedule under way, not undone: it answers OutcomeUnknown
        (503) or SlotBusy (429), each saying so in its message and `details` (`_under_way`); the
        same request repeated finishes it, as the sweeper would. Before the mark, such errors are
        answered as they are: nothing was written.

        With an Idempotency-Key: the key is claimed (in Redis, as for a booking) by write 1 and
        kept in the new booking, so the same key with another booking or target is a conflict, and
        a refusal is remembered as the key's first answer. `key.body` need not cover the booking id:
        it is folded in here.
        """
        old_slot_id = _old_slot_of(booking_id, target_slot_id)
        if key is not None:
            key = replace(key, body=hashlib.sha256(f"reschedule {booking_id} {key.body}".encode()).hexdigest()[:32])
        claim = None if key is None else KeyClaim(key.key, target_slot_id, key.body, key.ttl_s)
        ask = _Reschedule(booking_id, target_slot_id, self.clock(), by, key, claim)
        old_slot, old = find_booking(self.store, booking_id)
        if (done := _rescheduled_into(old, target_slot_id)) is not None:
            return self._first_answer_of_reschedule(done, key, ask.now)
        new_id, target = self._marked(ask, old_slot_id, old_slot, old)
        try:
            settled = self._settle_reschedule(old, new_id, ask.now, by, key, target)
        except (SlotBusy, DependencyUnavailable) as stopped:  # the mark is written: never "nothing was written"
            raise _under_way(stopped, booking_id, new_id) from stopped
        if isinstance(settled, OpdError):
            raise self._answer_to(claim, settled)
        return settled

    def _marked(self, ask: _Reschedule, old_slot_id: str, old_slot: Slot, old: Booking) -> tuple[str, Slot | None]:
        """Write 1 (the mark), unless an earlier attempt or a duplicate in flight made it: the new
        booking's id, and the target slot if it was read."""
        heading = old.rescheduled_to if _heading_to(old, ask.target_slot_id) else None
        if heading is not None:  # an earlier attempt marked it: go on with its id
            return heading, None
        candidate = new_booking_id(ask.target_slot_id)
        target, placed = self._checked_target(ask, old_slot, old, candidate)
        if placed is not None:  # a duplicate in flight got here first
            return placed, target

        def mark(slot: Slot) -> Decision[str]:
            return _mark(slot, ask.booking_id, ask.target_slot_id, candidate)

        return self.writer.change(old_slot_id, mark, ask.claim, read=old_slot), target  # write 1

    def _checked_target(
        self, ask: _Reschedule, old_slot: Slot, old: Booking, candidate: str
    ) -> tuple[Slot, str | None]:
        """Refuse before writing anything: a booking that cannot be rescheduled (not BOOKED, or being
        rescheduled elsewhere), a target that would refuse it (full, closed, ended, the patient there).
        Returns the target as read, and the id of a booking that already replaces the old one there (a
        duplicate's), if any."""
        try:
            domain.begin_reschedule(old_slot, old, candidate)
            target = get_slot(self.store, ask.target_slot_id)
            if (placed := _placed_for(target, ask.booking_id)) is not None:
                if ask.key is not None:
                    target.booking_for_key(ask.key.key, ask.key.body)
            else:
                self._place(target, old, candidate, ask.now, ask.key, ask.by)
        except OpdError as refused:
            raise self._answer_to(ask.claim, refused) from None
        return target, placed

    def _answer_to(self, claim: KeyClaim | None, refused: OpdError) -> OpdError:
        """What a refused reschedule answers: with a key, its first answer, unless the refusal is worth a retry."""
        return refused if claim is None or _transient(refused) else self.writer.first_answer(claim, refused)

    def _first_answer_of_reschedule(self, new_id: str, key: RequestKey | None, now: datetime) -> Booking:
        """A repeat of a reschedule that is done: the new booking as it first answered it."""
        slot, booking = find_booking(self.store, new_id)
        if key is not None:
            slot.booking_for_key(key.key, key.body)  # the same key with another body: a conflict
        return domain.answered(slot, booking.as_created(), now)

    def _place(
        self, target: Slot, old: Booking, new_id: str, now: datetime, key: RequestKey | None, by: str
    ) -> Decision[Booking]:
        # The new booking may have been made, cancelled and archived while this move stood unfinished: it
        # must not be made twice. The patient's archived bookings count for the 3-rebook rule too.
        theirs = () if target.booking(new_id) is not None else archived_of_patient(self.store, target, old.patient_id)
        if (made := next((b for b in theirs if b.booking_id == new_id), None)) is not None:
            return None, domain.answered(target, made, now)
        asked = domain.BookingOptions(
            by=by,
            idempotency_key=key.key if key is not None else None,
            request_hash=key.body if key is not None else None,
            archived=theirs,
            # A code of its own: only the write that places the booking keeps one (a booking placed is never placed
            # again), so a code made for a decision that was not written is never anyone's.
            status_code=new_status_code(),
        )
        pct = self.settings.delay_reduction_percent
        changed, placed = domain.place_rescheduled(target, old, new_id, now, pct, asked)
        return changed, domain.answered(changed or target, placed, now)

    def _settle_reschedule(
        self,
        old: Booking,
        new_id: str,
        now: datetime,
        by: str,
        key: RequestKey | None = None,
        target: Slot | None = None,
    ) -> Booking | OpdError:
        """Writes 2 and 3 of a reschedule whose mark (`old.rescheduled_to` = `new_id`) is written.

        Returns the new booking as answered, or the target's refusal once the mark is cleared.
        Raises only what is worth a retry (a busy slot, a dependency away): the mark stays, and the
        next attempt or sweep goes on from it. `target`, if given, is the target slot as just read.
        """
        target_id = domain.slot_id_of_booking(new_id)
        assert target_id is not None  # made by `new_booking_id`
        try:
            placed: Booking | OpdError = self.writer.change(
                target_id, lambda slot: self._place(slot, old, new_id, now, key, by), read=target
            )  # write 2
        except OpdError as refused:
            if _transient(refused):
                raise
            placed = (
                refused if isinstance(refused, NotFound) else self._refuse_reschedule(target_id, new_id, refused, now)
            )
        pct = self.settings.delay_reduction_percent

        def finish(slot: Slot) -> Decision[None]:
            # Finished, it may have gone to the archive since (a repeat that stalled before write 3).
            booking = slot.booking(old.booking_id) or self.store.archive.get(old.booking_id)
            if booking is not None and booking.status is Status.CANCELLED and booking.rescheduled_to == new_id:
                return None, None  # finished already
            if booking is None or not booking.rescheduling or booking.rescheduled_to != new_id:
                # Only if a refusal was dropped from the target (MAX_REFUSED_RESCHEDULES in a day) while
                # some attempt stalled: it made the new booking after the mark was cleared.
                log.error("reschedule %s -> %s: the mark is gone, the new booking is made", old.booking_id, new_id)
                raise OpdError(f"booking {old.booking_id} is no longer being rescheduled to {new_id}")
            return domain.finish_reschedule(slot, booking, now, by, pct)[0], None

        def abandon(slot: Slot) -> Decision[None]:
            booking = slot.booking(old.booking_id)
            if booking is None or booking.rescheduled_to != new_id:
                return None, None
            return domain.abandon_reschedule(slot, booking), None

        self.writer.change(old.slot_id, finish if isinstance(placed, Booking) else abandon)  # write 3
        return placed

    def _refuse_reschedule(self, target_id: str, new_id: str, refused: OpdError, now: datetime) -> Booking | OpdError:
        """Record the target's refusal of the new booking, unless someone made it meanwhile: then that booking."""

        def refuse(slot: Slot) -> Decision[Booking | OpdError]:
            if (placed := slot.booking(new_id)) is not None:
                return None, domain.answered(slot, placed, now)
            return domain.refuse_reschedule(slot, new_id, refused.code, now), refused

        return self.writer.change(target_id, refuse)

    def finish_reschedules(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> ReschedulesReport:
        """Finish the reschedules that requests left half done: every booking still marked as being rescheduled.

        For each, the same writes 2 and 3 a repeat of its request would make: the new booking made
        in the target (or found there), then the old one cancelled; or, if the target refuses it
        (full, closed, ended), the mark cleared, and the patient keeps the old place. A reschedule whose
        slot is busy is left for the next run, as is everything once `time_left` runs short.
        """
        at = now or self.clock()
        finished = abandoned = busy = 0
        for slot_id in self.store.slots_with_reschedules(batch_size):
            slot = self.store.get(slot_id)
            for booking in [b for b in slot.bookings if b.rescheduling] if slot else []:
                if time_left is not None and time_left() < reserve_s:
                    return ReschedulesReport(finished, abandoned, busy, complete=False)
                assert booking.rescheduled_to is not None  # it is being rescheduled
                try:
                    settled = self._settle_reschedule(booking, booking.rescheduled_to, at, domain.SYSTEM)
                except SlotBusy:
                    busy += 1
                    continue
                if isinstance(settled, Booking):
                    finished += 1
                else:
                    abandoned += 1
        return ReschedulesReport(finished, abandoned, busy, complete=True)


def _old_slot_of(booking_id: str, target_slot_id: str) -> str:
    """The slot the booking is in, named by its id; refused if the target is no other valid slot id."""
    old_slot_id = domain.slot_id_of_booking(booking_id)
    if old_slot_id is None:
        raise NotFound(f"no booking {booking_id}")
    domain.require_id("slotId", target_slot_id)
    if target_slot_id == old_slot_id:
        raise ValidationFailed.field("slotId", "must be another slot than the booking's own")
    return old_slot_id


def _mark(slot: Slot, booking_id: str, target_slot_id: str, candidate: str) -> Decision[str]:
    """Write 1's decision: mark the booking as being rescheduled to `candidate`, or to the id a duplicate in
    flight marked it with; or nothing, if that duplicate finished the reschedule (its new booking's id)."""
    booking = slot.booking(booking_id)
    if booking is None:
        raise NotFound(f"no booking {booking_id}")
    if (moved := _rescheduled_into(booking, target_slot_id)) is not None:  # a duplicate in flight did it
        return None, moved
    heading = booking.rescheduled_to if _heading_to(booking, target_slot_id) else candidate
    assert heading is not None
    changed = domain.begin_reschedule(slot, booking, heading)
    return (None if changed is slot else changed), heading


# How a reschedule stopped after its mark tells why, by the dependency that went away.
_WENT_AWAY = {"redis": "Redis could not be reached", "mongo": "MongoDB could not be reached"}


def _under_way(stopped: SlotBusy | DependencyUnavailable, booking_id: str, new_id: str) -> OpdError:
    """What a reschedule answers when a dependency or a busy slot stops it after its mark is written.

    Never "nothing was written": the booking is marked, so the move is under way, and its outcome is not
    known yet (the target may still refuse it). A dependency away is 503 OutcomeUnknown; a busy slot stays
    429 SLOT_BUSY with its Retry-After, the contract's way of saying "repeat later", which is what finishes
    it, and unlike a 503 tells the client when. Both carry `"outcome": "UNKNOWN"` and `rescheduledTo`.
    """
    known = {"bookingId": booking_id, "rescheduledTo": new_id}
    under_way = (
        f"booking {booking_id} is being rescheduled to slot {domain.slot_id_of_booking(new_id)}; the reschedule "
        "is under way and its outcome is not known yet: repeat the same request to finish it (the sweeper "
        "also finishes it within minutes)"
    )
    log.warning("reschedule %s -> %s stopped after its mark: %s", booking_id, new_id, stopped.message)
    if isinstance(stopped, SlotBusy):
        details = [{"outcome": OUTCOME_UNKNOWN, **known}]
        return SlotBusy(f"a slot is busy, and {under_way}", stopped.retry_after_seconds, details)
    went_away = _WENT_AWAY.get(stopped.dependency, stopped.message)
    return OutcomeUnknown(stopped.dependency, f"{went_away}, and {under_way}", known)


def _transient(error: OpdError) -> bool:
    """Worth a retry (busy, a dependency away): says nothing final about the request."""
    return isinstance(error, SlotBusy | DependencyUnavailable)


def _rescheduled_into(booking: Booking, target_slot_id: str) -> str | None:
    """The id of the booking this one was rescheduled to in the target slot, if that reschedule is done."""
    done = booking.status is Status.CANCELLED and booking.cancel_reason is CancelReason.RESCHEDULED
    heading = booking.rescheduled_to
    return heading if done and heading and domain.slot_id_of_booking(heading) == target_slot_id else None


def _placed_for(target: Slot, old_booking_id: str) -> str | None:
    """The id of a booking in the target slot that replaces `old_booking_id`: its reschedule's mark is
    written, and the reschedule can only finish (write 2 decides it), so it is that reschedule's new booking."""
    return next((b.booking_id for b in target.bookings if b.rescheduled_from == old_booking_id), None)


def _heading_to(booking: Booking, target_slot_id: str) -> bool:
    """A reschedule of this booking to the target slot is under way (marked, not yet finished)."""
    heading = booking.rescheduled_to
    return booking.rescheduling and heading is not None and domain.slot_id_of_booking(heading) == target_slot_id
