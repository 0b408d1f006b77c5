"""Rescheduling: a booking leaves one slot for another in three one-slot writes, with no transaction.

1. `begin_reschedule` marks the old booking with the new booking's id; it keeps its place meanwhile;
2. `place_rescheduled` books exactly that id in the target, or `refuse_reschedule` records there that it never will;
3. `finish_reschedule` cancels the old booking (RESCHEDULED), or `abandon_reschedule` clears its mark.
The service (`opd.service.rescheduler`) runs them, and finishes what a dead request left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from opd.domain.model import Booking, RefusedReschedule, Slot, slot_id_of_booking
from opd.domain.rules import ASKED_PLAINLY, BookingOptions, book, promote_waitlist, refuse_transition
from opd.domain.states import CancelReason, Status
from opd.errors import InvalidTransition, refusal

# A slot remembers the reschedules it refused after their old booking was marked (see `refuse_reschedule`)
# for a day, and at most this many of them: ~150 bytes each. Only a target that filled up between a
# request's own check and its write, or the sweeper finding one full, ever records one.
MAX_REFUSED_RESCHEDULES = 20
REFUSED_RESCHEDULES_KEPT_FOR = timedelta(days=1)


def begin_reschedule(slot: Slot, booking: Booking, new_booking_id: str) -> Slot:
    """Mark a BOOKED booking as moving to `new_booking_id` (in another slot); it keeps its place meanwhile.

    The first of a reschedule's writes: a retry, or the sweeper, finds the mark and finishes the reschedule.
    """
    if booking.status is not Status.BOOKED:
        raise refuse_transition(booking, Status.CANCELLED)
    if booking.rescheduled_to == new_booking_id:
        return slot
    if booking.rescheduled_to is not None:
        raise InvalidTransition(
            f"booking {booking.booking_id} is already being rescheduled to slot "
            f"{slot_id_of_booking(booking.rescheduled_to)}: repeat that reschedule request to finish it, or wait "
            "for the sweeper, which finishes it within minutes",
            [{"rescheduledTo": booking.rescheduled_to}],
        )
    return slot.with_booking(replace(booking, rescheduled_to=new_booking_id))


def finish_reschedule(
    slot: Slot, booking: Booking, now: datetime, by: str, delay_reduction_percent: int = 20
) -> tuple[Slot, Booking]:
    """The new booking holds its place: the old one is CANCELLED (RESCHEDULED), its place to the waitlist."""
    if not booking.rescheduling:
        raise refuse_transition(booking, Status.CANCELLED)
    cancelled = replace(booking.became(Status.CANCELLED, now, by), cancel_reason=CancelReason.RESCHEDULED)
    changed, _ = promote_waitlist(slot.with_booking(cancelled), now, delay_reduction_percent)
    return changed, cancelled


def abandon_reschedule(slot: Slot, booking: Booking) -> Slot | None:
    """The new booking could not be made: the old one stays as it was. None when nothing changes."""
    if not booking.rescheduling:
        return None
    return slot.with_booking(replace(booking, rescheduled_to=None))


def place_rescheduled(
    target: Slot,
    old: Booking,
    new_booking_id: str,
    now: datetime,
    delay_reduction_percent: int,
    options: BookingOptions = ASKED_PLAINLY,
) -> tuple[Slot | None, Booking]:
    """The second of a reschedule's writes: `old`'s patient, source, phone and language booked in the target slot
    as `new_booking_id`, at most once. `options` says who asked and with which Idempotency-Key.

    Returns (None, the booking) when it is there already, so writing it again changes nothing. A
    target that refused this id once (`refuse_reschedule`) refuses it again, whatever room it has now.
    """
    if (placed := target.booking(new_booking_id)) is not None:
        return None, placed
    if (refused := target.refused_reschedule(new_booking_id)) is not None:
        raise refusal(
            refused.code,
            f"slot {target.slot_id} refused this reschedule ({refused.code})",
            [{"slotId": target.slot_id, "bookingId": new_booking_id}],
        )
    return book(
        target,
        new_booking_id,
        old.patient_id,
        old.source,
        now,
        delay_reduction_percent,
        # The patient is told of the reschedule on the same phone, in the same language.
        replace(options, rescheduled_from=old.booking_id, phone=old.phone, language=old.language),
    )


def refuse_reschedule(target: Slot, new_booking_id: str, code: str, now: datetime) -> Slot | None:
    """Record in the target slot that the reschedule making `new_booking_id` is refused, for good.

    What lets the old booking's mark be cleared safely: a request or sweeper that read the mark
    before it was cleared can no longer book the new booking afterwards (`place_rescheduled` refuses it),
    so the patient never ends up with both places. None when nothing changes: the booking was made
    after all (the caller finishes the reschedule instead), or the refusal is recorded already.
    Refusals older than REFUSED_RESCHEDULES_KEPT_FOR, and all but the newest MAX_REFUSED_RESCHEDULES, are dropped.
    """
    if target.booking(new_booking_id) is not None or target.refused_reschedule(new_booking_id) is not None:
        return None
    kept = [r for r in target.refused_reschedules if r.at > now - REFUSED_RESCHEDULES_KEPT_FOR][
        -(MAX_REFUSED_RESCHEDULES - 1) :
    ]
    return replace(target, refused_reschedules=(*kept, RefusedReschedule(new_booking_id, code, now)))
