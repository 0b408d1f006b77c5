"""The booking rules: who gets a place, what a status change does, delays and the no-show sweep.

Pure code: every decision takes the slot as read and returns the slot as it must be written, so
the store writes it back in one conditional replace and a lost race simply decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opd.domain.languages import Language
from opd.domain.model import (
    MAX_DELAY_MINUTES,
    MAX_REBOOKINGS,
    PHONE_PATTERN,
    SYSTEM,
    TIER_OF_SOURCE,
    Booking,
    Capacity,
    Change,
    Slot,
    Source,
    require_aware,
    require_id,
    slot_id_of_booking,
)
from opd.domain.states import HOLDS_OR_WAITS, TRANSITIONS, CancelReason, Status
from opd.errors import DuplicateBooking, InvalidTransition, SlotClosed, SlotFull, ValidationFailed, WaitlistFull

WAITLIST_LIMIT = 10  # the default of the WAITLIST_LIMIT setting: waitlisted bookings per slot


def new_slot(
    slot_id: str,
    doctor_id: str,
    start: datetime,
    end: datetime,
    capacity: Capacity,
    now: datetime,
    grace_minutes: int | None = None,
) -> Slot:
    """A slot with no bookings; with `grace_minutes` (the no-show grace), its waitlist ends at start + grace."""
    require_id("doctorId", doctor_id)
    require_aware("start", start)
    require_aware("end", end)
    if end <= start:
        raise ValidationFailed.field("end", "must be after start")
    if end <= now:
        raise ValidationFailed.field("end", "has already passed")
    ends = None if grace_minutes is None else start + timedelta(minutes=grace_minutes)
    return Slot(slot_id=slot_id, doctor_id=doctor_id, start=start, end=end, capacity=capacity, waitlist_ends_at=ends)


@dataclass(frozen=True)
class BookingOptions:
    """How a booking was asked for, beyond whose it is and where: what the rules and its record need."""

    by: str = SYSTEM  # who asked: the caller's username, for the booking's history
    waitlist: bool = False  # a full tier puts the patient on the waitlist instead of SLOT_FULL
    waitlist_limit: int = WAITLIST_LIMIT
    phone: str | None = None  # E.164, where the booking's SMS go
    # With an Idempotency-Key: hashes of (caller, key) and of the body, kept in the booking (see Booking).
    idempotency_key: str | None = None
    request_hash: str | None = None
    rescheduled_from: str | None = None  # the booking this one replaces
    status_code: str | None = None  # the new booking's status code (the service makes it: `service.ids`)
    language: Language | None = None  # the language of its SMS, as the service resolved it (`Booking.language`)
    # The patient's bookings of this slot that went to the archive (asked for only when the slot's
    # filter says there may be some): they count for the 3-rebook rule as those in the slot do.
    archived: tuple[Booking, ...] = ()


ASKED_PLAINLY = BookingOptions()


def book(
    slot: Slot,
    booking_id: str,
    patient_id: str,
    source: Source,
    now: datetime,
    delay_reduction_percent: int,
    options: BookingOptions = ASKED_PLAINLY,
) -> tuple[Slot, Booking]:
    """Give the patient the next token if the tier still has room, else refuse with the reason.

    With `options.waitlist`, a full tier puts the patient on the slot's waitlist instead (no place,
    no token) while it has fewer than `options.waitlist_limit`.
    """
    require_id("patientId", patient_id)
    if options.phone is not None and not PHONE_PATTERN.fullmatch(options.phone):
        raise ValidationFailed.field("phone", "must be an E.164 number such as +919876543210")
    if slot.closed:
        raise SlotClosed(f"slot {slot.slot_id} is closed: the doctor is on leave")
    if now >= slot.end:
        raise SlotClosed(f"slot {slot.slot_id} ended at {slot.end.isoformat()}")
    in_slot = [b for b in slot.bookings if b.patient_id == patient_id]
    # A booking may be in both for a moment (archived, its slot's write not yet made): count it once.
    theirs = in_slot + [b for b in options.archived if slot.booking(b.booking_id) is None]
    if any(b.status in HOLDS_OR_WAITS for b in theirs):
        raise DuplicateBooking(f"patient {patient_id} already holds or waits for a booking in slot {slot.slot_id}")
    if len(theirs) > MAX_REBOOKINGS:  # the first booking and MAX_REBOOKINGS more
        raise DuplicateBooking(
            f"patient {patient_id} has already rebooked slot {slot.slot_id} {MAX_REBOOKINGS} times",
            [{"patientId": patient_id, "bookings": len(theirs), "maxRebookings": MAX_REBOOKINGS}],
        )
    tier = TIER_OF_SOURCE[source]
    limit = slot.limits(delay_reduction_percent)[tier]
    booked = slot.booked
    full = booked >= limit
    if full and not (options.waitlist and slot.waitlist_open(now)):
        raise SlotFull(
            f"no {tier.value} capacity left in slot {slot.slot_id}",
            [{"tier": tier.value, "limit": limit, "booked": booked}],
        )
    if full and len(slot.waitlist) >= options.waitlist_limit:
        raise WaitlistFull(
            f"no {tier.value} capacity left in slot {slot.slot_id}, and its waitlist is full",
            [{"tier": tier.value, "limit": limit, "booked": booked, "waitlisted": len(slot.waitlist)}],
        )
    if len(slot.bookings) >= slot.capacity.max_bookings:
        # Places are free, but the slot's record of cancelled and no-show bookings is at its bound.
        raise SlotFull(
            f"slot {slot.slot_id} holds its maximum of {slot.capacity.max_bookings} bookings",
            [{"tier": tier.value, "limit": limit, "booked": booked, "bookings": len(slot.bookings)}],
        )
    status = Status.WAITLISTED if full else Status.BOOKED
    booking = Booking(
        booking_id=booking_id,
        slot_id=slot.slot_id,
        doctor_id=slot.doctor_id,
        patient_id=patient_id,
        source=source,
        token=None if full else slot.next_token,
        status=status,
        created_at=now,
        updated_at=now,
        idempotency_key=options.idempotency_key,
        request_hash=options.request_hash,
        history=(Change(status, now, options.by),),
        rescheduled_from=options.rescheduled_from,
        phone=options.phone,
        status_code=options.status_code,
        language=options.language,
    )
    next_token = slot.next_token if full else slot.next_token + 1
    return replace(slot, next_token=next_token, bookings=(*slot.bookings, booking)), booking


def promote_waitlist(slot: Slot, now: datetime, delay_reduction_percent: int) -> tuple[Slot, list[Booking]]:
    """Give free places to waitlisted bookings in the order they joined, each only if its tier has room.

    Called by every change that can give a place back (cancel, no-show, a delay cleared, the 3rd
    skip), so the promotion is part of the same single write. Once the slot's waitlist is over
    (start + grace), nobody is promoted: a place given back then stays free for a new booking.
    """
    if not slot.waitlist_open(now):
        return slot, []
    limits = slot.limits(delay_reduction_percent)
    promoted: list[Booking] = []
    for waiting in slot.waitlist:
        if slot.booked < limits[waiting.tier]:
            up = replace(waiting.became(Status.BOOKED, now, SYSTEM), token=slot.next_token)
            slot = replace(slot.with_booking(up), next_token=slot.next_token + 1)
            promoted.append(up)
    return slot, promoted


def refuse_transition(booking: Booking, to: Status) -> InvalidTransition:
    return InvalidTransition(
        f"booking {booking.booking_id} is {booking.status.value} and cannot become {to.value}",
        [{"from": booking.status.value, "to": to.value}],
    )


def refuse_while_rescheduling(booking: Booking, to: Status) -> InvalidTransition:
    """A move the booking could make, but not while a reschedule of it is unfinished (`Booking.rescheduling`):
    the reschedule decides first whether the booking stays (its target refused) or is CANCELLED (moved)."""
    heading = booking.rescheduled_to or ""
    return InvalidTransition(
        f"booking {booking.booking_id} is being rescheduled to slot {slot_id_of_booking(heading)} and cannot "
        f"become {to.value} until that reschedule is finished: repeat the reschedule request to finish it, "
        "or wait for the sweeper, which finishes it within minutes",
        [{"from": booking.status.value, "to": to.value, "rescheduledTo": heading}],
    )


def transition(
    slot: Slot,
    booking: Booking,
    to: Status,
    now: datetime,
    by: str = SYSTEM,
    delay_reduction_percent: int = 20,
    reason: CancelReason | None = None,
) -> tuple[Slot, Booking]:
    """Move one booking along the state machine; CANCELLED and NO_SHOW give its place back at once,
    to the waitlist first. A cancel says why (`reason`, default STAFF)."""
    if to not in TRANSITIONS[booking.status]:
        raise refuse_transition(booking, to)
    if booking.rescheduling:
        raise refuse_while_rescheduling(booking, to)
    moved = booking.became(to, now, by)
    if to is Status.COMPLETED:
        moved = replace(moved, completed_at=now)
    if to is Status.CANCELLED:
        moved = replace(moved, cancel_reason=reason or CancelReason.STAFF)
    changed = slot.with_booking(moved)
    if booking.holds_place and not moved.holds_place:
        changed, _ = promote_waitlist(changed, now, delay_reduction_percent)
    return changed, moved


def set_delay(
    slot: Slot, delayed: bool, minutes: int | None, now: datetime | None = None, delay_reduction_percent: int = 20
) -> Slot:
    """Bookings already made are never bumped: only the limits for new bookings change. A delay
    cleared opens places again, and the waitlist gets them first."""
    if minutes is not None and not 0 <= minutes <= MAX_DELAY_MINUTES:
        raise ValidationFailed.field("minutes", f"must be between 0 and {MAX_DELAY_MINUTES}")
    changed = replace(slot, delayed=delayed, delay_minutes=(minutes or 0) if delayed else 0)
    if now is not None:
        changed, _ = promote_waitlist(changed, now, delay_reduction_percent)
    return changed


def no_show_cutoff(now: datetime, grace_minutes: int) -> datetime:
    """Slots that started at or before this instant are past their grace period."""
    return now - timedelta(minutes=grace_minutes)


def mark_no_shows(slot: Slot, now: datetime, grace_minutes: int) -> tuple[Slot, list[Booking]]:
    """At start + grace: every BOOKED booking becomes NO_SHOW (CHECKED_IN and CALLED stay), and the
    waitlist is over: its bookings expire (WAITLIST_EXPIRED), and the places the no-shows give back
    stay free for new bookings. Nobody is promoted, so running it again changes nothing.

    Returns the slot and the bookings marked NO_SHOW. A booking being rescheduled is left to the
    reschedule that holds it (its new place is in another slot).
    """
    if slot.start > no_show_cutoff(now, grace_minutes):
        return slot, []
    marked = [
        b.became(Status.NO_SHOW, now, SYSTEM) for b in slot.bookings if b.status is Status.BOOKED and not b.rescheduling
    ]
    expired = [
        replace(b.became(Status.CANCELLED, now, SYSTEM), cancel_reason=CancelReason.WAITLIST_EXPIRED)
        for b in slot.waitlist
    ]
    swept = slot
    for booking in (*marked, *expired):
        swept = swept.with_booking(booking)
    return swept, marked
