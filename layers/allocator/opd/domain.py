"""The allocation rules, as pure code: no clock, no I/O, no randomness.

Every decision takes the slot as it was read and returns the slot as it must be written, so the
store can write it back in one conditional replace and a lost race simply decides again.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import groupby
from zoneinfo import ZoneInfo

from opd.errors import (
    DuplicateBooking,
    EventsBacklog,
    IdempotencyConflict,
    InvalidTransition,
    SlotClosed,
    SlotFull,
    ValidationFailed,
    WaitlistFull,
    refusal,
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_DELAY_MINUTES = 24 * 60

# A slot's stored document must stay under 256 KiB whatever clients do (contract, "Capacity rules").
# It holds at most BOOKINGS_PER_PLACE bookings per place, in any state, and a cancelled booking with
# its history takes ~650 bytes of BSON (64-character ids and usernames, both idempotency hashes),
# so 30 places is ~190 KiB, leaving room for the fields later features add to a booking.
MAX_PLACES = 30  # base + premiumBuffer + emergencyBuffer: twice the default slot's 15
MAX_CAPACITY = MAX_PLACES  # no single part can exceed the whole
BOOKINGS_PER_PLACE = 10  # then SLOT_FULL, however many were cancelled
MAX_REBOOKINGS = 3  # a patient's cancel-and-book-again cycles in one slot; then DUPLICATE_BOOKING


class Source(StrEnum):
    ONLINE = "ONLINE"
    WALKIN = "WALKIN"
    PAID = "PAID"
    FOLLOWUP = "FOLLOWUP"
    EMERGENCY = "EMERGENCY"


class Tier(StrEnum):
    STANDARD = "STANDARD"
    PREMIUM = "PREMIUM"
    CRITICAL = "CRITICAL"


TIER_OF_SOURCE: dict[Source, Tier] = {
    Source.ONLINE: Tier.STANDARD,
    Source.WALKIN: Tier.STANDARD,
    Source.PAID: Tier.PREMIUM,
    Source.FOLLOWUP: Tier.PREMIUM,
    Source.EMERGENCY: Tier.CRITICAL,
}


class Status(StrEnum):
    WAITLISTED = "WAITLISTED"
    BOOKED = "BOOKED"
    CHECKED_IN = "CHECKED_IN"
    CALLED = "CALLED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


# A slot's capacity counts consultations: finishing one early does not open the slot to more
# patients, so COMPLETED keeps its place; only CANCELLED and NO_SHOW give places back.
HOLDS_PLACE = frozenset({Status.BOOKED, Status.CHECKED_IN, Status.CALLED, Status.COMPLETED})
IN_QUEUE = frozenset({Status.BOOKED, Status.CHECKED_IN, Status.CALLED})  # what /queue lists
# A waitlisted patient holds no place, but does hold a booking in the slot (for DUPLICATE_BOOKING).
HOLDS_OR_WAITS = HOLDS_PLACE | {Status.WAITLISTED}

# The moves of the booking endpoints (cancel, check-in, no-show, complete); call-next and skip
# make theirs in `call_next` and `skip`. Anything else is INVALID_TRANSITION.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.WAITLISTED: frozenset({Status.CANCELLED}),
    Status.BOOKED: frozenset({Status.CHECKED_IN, Status.CANCELLED, Status.NO_SHOW}),
    Status.CHECKED_IN: frozenset({Status.COMPLETED}),
    Status.CALLED: frozenset({Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}
WAITLIST_LIMIT = 10  # the default of the WAITLIST_LIMIT setting: waitlisted bookings per slot
MAX_SKIPS = 3  # the 3rd skip of a called patient who does not come in makes them a no-show
SYSTEM = "system"  # who made a change that no caller asked for (the sweeper)
MAX_BOARD_NEXT = 5  # tokens the waiting-room board shows after the one being called
# A slot remembers the reschedules it refused after their old booking was marked (see `refuse_move`)
# for a day, and at most this many of them: ~150 bytes each. Only a target that filled up between a
# request's own check and its write, or the sweeper finding one full, ever records one.
MAX_REFUSED_MOVES = 20
REFUSED_MOVES_KEPT_FOR = timedelta(days=1)


def require_id(field_name: str, value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValidationFailed.field(field_name, "must be 1-64 characters of A-Za-z0-9._:-")
    return value


def require_aware(field_name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed.field(field_name, "must carry a UTC offset, e.g. 2026-11-21T09:00:00+05:30")
    return value


@dataclass(frozen=True)
class Capacity:
    base: int = 10
    premium_buffer: int = 2
    emergency_buffer: int = 3

    def __post_init__(self) -> None:
        details = []
        for name, value, lowest in (
            ("baseCapacity", self.base, 1),
            ("premiumBuffer", self.premium_buffer, 0),
            ("emergencyBuffer", self.emergency_buffer, 0),
        ):
            if not lowest <= value <= MAX_CAPACITY:
                details.append({"field": name, "message": f"must be between {lowest} and {MAX_CAPACITY}"})
        if not details and self.places > MAX_PLACES:
            message = f"baseCapacity + premiumBuffer + emergencyBuffer must be at most {MAX_PLACES}"
            details = [
                {"field": name, "message": message} for name in ("baseCapacity", "premiumBuffer", "emergencyBuffer")
            ]
        if details:
            raise ValidationFailed("invalid capacity", details)

    @property
    def places(self) -> int:
        """Every place the slot has: the CRITICAL limit, which a delay never shrinks."""
        return self.base + self.premium_buffer + self.emergency_buffer

    @property
    def max_bookings(self) -> int:
        """Bookings a slot may hold in any state: what keeps its document bounded."""
        return BOOKINGS_PER_PLACE * self.places


def tier_limits(capacity: Capacity, delayed: bool, delay_reduction_percent: int) -> dict[Tier, int]:
    """Limits on active bookings per tier. A delay shrinks only the base; CRITICAL never shrinks."""
    base = capacity.base * (100 - delay_reduction_percent) // 100 if delayed else capacity.base
    return {
        Tier.STANDARD: base,
        Tier.PREMIUM: base + capacity.premium_buffer,
        Tier.CRITICAL: capacity.places,
    }


@dataclass(frozen=True)
class Standing:
    """Where a queued booking stands: bookings ahead of it (the CALLED one included), and when it may be called."""

    position: int
    estimated_call_at: datetime | None


class CancelReason(StrEnum):
    PATIENT = "PATIENT"  # the patient cancelled their own booking
    STAFF = "STAFF"  # reception or admin cancelled it
    RESCHEDULED = "RESCHEDULED"  # moved to another slot: `rescheduled_to` names the new booking
    DOCTOR_UNAVAILABLE = "DOCTOR_UNAVAILABLE"  # the doctor is on leave
    WAITLIST_EXPIRED = "WAITLIST_EXPIRED"  # still waitlisted at start + grace


@dataclass(frozen=True)
class Change:
    """One line of a booking's history: what it became, when, and who did it."""

    status: Status
    at: datetime
    by: str


@dataclass(frozen=True)
class Booking:
    booking_id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    source: Source
    token: int | None  # None while WAITLISTED: a token comes with a place
    status: Status
    created_at: datetime
    updated_at: datetime
    # Set when the booking was made with an Idempotency-Key: hashes of (caller, key) and of the
    # body. Kept in the booking itself, so the write that books also records the key, atomically.
    idempotency_key: str | None = None
    request_hash: str | None = None
    history: tuple[Change, ...] = ()
    called_at: datetime | None = None  # the last time it was called into the room
    completed_at: datetime | None = None
    skips: int = 0
    queue_position: int | None = None  # its place in its call-order group: the token until a skip
    cancel_reason: CancelReason | None = None
    rescheduled_from: str | None = None  # the booking this one replaced
    # The booking this one is replaced by. Set while still BOOKED, it marks a reschedule under way:
    # the new booking is being written in the other slot (see `begin_reschedule`).
    rescheduled_to: str | None = None
    phone: str | None = None  # E.164, for the SMS the booking's events send; shown to its owner and staff only
    # Where it stands in the queue as of an answer: computed from the slot for each answer, never
    # stored, and no part of what makes two bookings the same.
    standing: Standing | None = field(default=None, compare=False, repr=False)
    waitlist_position: int | None = field(default=None, compare=False, repr=False)  # 1-based, while waitlisted

    @property
    def tier(self) -> Tier:
        return TIER_OF_SOURCE[self.source]

    @property
    def holds_place(self) -> bool:
        return self.status in HOLDS_PLACE

    @property
    def in_queue(self) -> bool:
        return self.status in IN_QUEUE

    @property
    def critical(self) -> bool:
        return self.tier is Tier.CRITICAL

    @property
    def place_in_group(self) -> int:
        return self.queue_position or self.token or 0  # only queued bookings, which have tokens, are asked

    @property
    def moving(self) -> bool:
        """A reschedule is under way: the new booking may already hold a place in the other slot."""
        return self.status is Status.BOOKED and self.rescheduled_to is not None

    def as_created(self) -> Booking:
        """The booking as its creating request was answered: what a repeat of that request gets."""
        first = self.history[0].status if self.history else Status.BOOKED
        return replace(
            self,
            status=first,
            token=self.token if first is Status.BOOKED else None,
            cancel_reason=None,
            rescheduled_to=None,
            updated_at=self.created_at,
            history=self.history[:1],
            called_at=None,
            completed_at=None,
            skips=0,
            queue_position=None,
        )

    def moved(self, to: Status, now: datetime, by: str) -> Booking:
        """This booking in state `to`, its history one line longer."""
        return replace(self, status=to, updated_at=now, history=(*self.history, Change(to, now, by)))


@dataclass(frozen=True)
class RefusedMove:
    """A reschedule into this slot that it refused: the new booking's id, never to be made here, and why."""

    booking_id: str
    code: str  # the refusal's contract code, e.g. SLOT_FULL
    at: datetime


@dataclass(frozen=True)
class Slot:
    slot_id: str
    doctor_id: str
    start: datetime
    end: datetime
    capacity: Capacity = field(default_factory=Capacity)
    delayed: bool = False
    delay_minutes: int = 0
    closed: bool = False  # the doctor is on leave: no new bookings
    next_token: int = 1  # tokens are never reused, so the counter lives beside the bookings
    bookings: tuple[Booking, ...] = ()
    refused_moves: tuple[RefusedMove, ...] = ()  # oldest first
    version: int = 0  # the store's fencing value: every write is conditional on it
    # Events of the slot's changes not yet known to be published, oldest first: written by the same
    # conditional write as the change they describe (see `with_events`). Delivery's bookkeeping, not
    # the slot's state: no part of what makes two slots the same.
    outbox: tuple[Event, ...] = field(default=(), compare=False)

    @property
    def booked(self) -> int:
        """Places held: BOOKED, CHECKED_IN, CALLED and COMPLETED bookings."""
        return sum(1 for b in self.bookings if b.holds_place)

    @property
    def called(self) -> Booking | None:
        """The patient called into the room, if any (call-next keeps it to one)."""
        return next((b for b in self.bookings if b.status is Status.CALLED), None)

    @property
    def waitlist(self) -> list[Booking]:
        """WAITLISTED bookings in the order they joined."""
        return [b for b in self.bookings if b.status is Status.WAITLISTED]

    @property
    def awaiting_arrival(self) -> bool:
        """True while some booking is BOOKED or WAITLISTED: the sweeper's index looks for these slots."""
        return any(b.status in (Status.BOOKED, Status.WAITLISTED) for b in self.bookings)

    @property
    def moves_pending(self) -> bool:
        """True while a booking here is being rescheduled: the sweeper finishes moves a request left."""
        return any(b.moving for b in self.bookings)

    def limits(self, delay_reduction_percent: int) -> dict[Tier, int]:
        return tier_limits(self.capacity, self.delayed, delay_reduction_percent)

    def available(self, delay_reduction_percent: int) -> dict[Tier, int]:
        booked = self.booked
        return {tier: max(0, limit - booked) for tier, limit in self.limits(delay_reduction_percent).items()}

    def booking(self, booking_id: str) -> Booking | None:
        return next((b for b in self.bookings if b.booking_id == booking_id), None)

    def refused_move(self, booking_id: str) -> RefusedMove | None:
        return next((r for r in self.refused_moves if r.booking_id == booking_id), None)

    def booking_for_key(self, idempotency_key: str, request_hash: str) -> Booking | None:
        """The booking an earlier request with this key made here; the same key with another body is a conflict."""
        earlier = next((b for b in self.bookings if b.idempotency_key == idempotency_key), None)
        if earlier is not None and earlier.request_hash != request_hash:
            raise IdempotencyConflict("this Idempotency-Key was already used with a different body")
        return earlier

    def with_booking(self, updated: Booking) -> Slot:
        return replace(
            self, bookings=tuple(updated if b.booking_id == updated.booking_id else b for b in self.bookings)
        )


def new_slot(slot_id: str, doctor_id: str, start: datetime, end: datetime, capacity: Capacity, now: datetime) -> Slot:
    require_id("doctorId", doctor_id)
    require_aware("start", start)
    require_aware("end", end)
    if end <= start:
        raise ValidationFailed.field("end", "must be after start")
    if end <= now:
        raise ValidationFailed.field("end", "has already passed")
    return Slot(slot_id=slot_id, doctor_id=doctor_id, start=start, end=end, capacity=capacity)


def book(
    slot: Slot,
    booking_id: str,
    patient_id: str,
    source: Source,
    now: datetime,
    delay_reduction_percent: int,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    by: str = SYSTEM,
    waitlist: bool = False,
    waitlist_limit: int = WAITLIST_LIMIT,
    rescheduled_from: str | None = None,
    phone: str | None = None,
) -> tuple[Slot, Booking]:
    """Give the patient the next token if the tier still has room, else refuse with the reason.

    With `waitlist`, a full tier puts the patient on the slot's waitlist instead (no place, no
    token) while it has fewer than `waitlist_limit`. `by` is who asked: the caller's username, for
    the booking's history.
    """
    require_id("patientId", patient_id)
    if phone is not None and not PHONE_PATTERN.fullmatch(phone):
        raise ValidationFailed.field("phone", "must be an E.164 number such as +919876543210")
    if slot.closed:
        raise SlotClosed(f"slot {slot.slot_id} is closed: the doctor is on leave")
    if now >= slot.end:
        raise SlotClosed(f"slot {slot.slot_id} ended at {slot.end.isoformat()}")
    theirs = [b for b in slot.bookings if b.patient_id == patient_id]
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
    if full and not waitlist:
        raise SlotFull(
            f"no {tier.value} capacity left in slot {slot.slot_id}",
            [{"tier": tier.value, "limit": limit, "booked": booked}],
        )
    if full and len(slot.waitlist) >= waitlist_limit:
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
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        history=(Change(status, now, by),),
        rescheduled_from=rescheduled_from,
        phone=phone,
    )
    next_token = slot.next_token if full else slot.next_token + 1
    return replace(slot, next_token=next_token, bookings=(*slot.bookings, booking)), booking


def promote_waitlist(slot: Slot, now: datetime, delay_reduction_percent: int) -> tuple[Slot, list[Booking]]:
    """Give free places to waitlisted bookings in the order they joined, each only if its tier has room.

    Called by every change that can give a place back (cancel, no-show, the sweep, a delay
    cleared, the 3rd skip), so the promotion is part of the same single write.
    """
    limits = slot.limits(delay_reduction_percent)
    promoted: list[Booking] = []
    for waiting in slot.waitlist:
        if slot.booked < limits[waiting.tier]:
            up = replace(waiting.moved(Status.BOOKED, now, SYSTEM), token=slot.next_token)
            slot = replace(slot.with_booking(up), next_token=slot.next_token + 1)
            promoted.append(up)
    return slot, promoted


def _refuse_move(booking: Booking, to: Status) -> InvalidTransition:
    return InvalidTransition(
        f"booking {booking.booking_id} is {booking.status.value} and cannot become {to.value}",
        [{"from": booking.status.value, "to": to.value}],
    )


def move(
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
    if to not in TRANSITIONS[booking.status] or booking.moving:
        raise _refuse_move(booking, to)
    moved = booking.moved(to, now, by)
    if to is Status.COMPLETED:
        moved = replace(moved, completed_at=now)
    if to is Status.CANCELLED:
        moved = replace(moved, cancel_reason=reason or CancelReason.STAFF)
    changed = slot.with_booking(moved)
    if booking.holds_place and not moved.holds_place:
        changed, _ = promote_waitlist(changed, now, delay_reduction_percent)
    return changed, moved


def call_next(slot: Slot, now: datetime, by: str) -> tuple[Slot | None, Booking | None, Booking | None]:
    """Complete the patient in the room and call the first CHECKED_IN one in call order, in one change.

    Returns (the slot to write, or None when nothing changes; the completed booking; the called one).
    """
    completed = called = None
    changed = slot
    if (in_room := slot.called) is not None:
        completed = replace(in_room.moved(Status.COMPLETED, now, by), completed_at=now)
        changed = changed.with_booking(completed)
    waiting = next((b for b in call_order(changed.bookings) if b.status is Status.CHECKED_IN), None)
    if waiting is not None:
        called = replace(waiting.moved(Status.CALLED, now, by), called_at=now)
        changed = changed.with_booking(called)
    if completed is None and called is None:
        return None, None, None
    return changed, completed, called


def skip(
    slot: Slot, booking: Booking, now: datetime, by: str, delay_reduction_percent: int = 20
) -> tuple[Slot, Booking]:
    """A called patient who does not come in goes to the end of their call-order group.

    The MAX_SKIPS-th skip makes them a no-show, which gives their place back (to the waitlist first).
    """
    if booking.status is not Status.CALLED:
        raise _refuse_move(booking, Status.CHECKED_IN)
    skips = booking.skips + 1
    if skips >= MAX_SKIPS:
        skipped = replace(booking.moved(Status.NO_SHOW, now, by), skips=skips)
        changed, _ = promote_waitlist(slot.with_booking(skipped), now, delay_reduction_percent)
        return changed, skipped
    group_end = max(b.place_in_group for b in slot.bookings if b.in_queue and b.critical == booking.critical)
    skipped = replace(booking.moved(Status.CHECKED_IN, now, by), skips=skips, queue_position=group_end + 1)
    return slot.with_booking(skipped), skipped


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


def mark_no_shows(
    slot: Slot, now: datetime, grace_minutes: int, delay_reduction_percent: int = 20
) -> tuple[Slot, list[Booking]]:
    """At start + grace: every BOOKED booking becomes NO_SHOW (CHECKED_IN and CALLED stay), the
    places they give back go to the waitlist in join order, and the rest of the waitlist expires.

    Returns the slot and the bookings marked NO_SHOW. A booking being rescheduled is left to the
    move that holds it (its new place is in another slot).
    """
    if slot.start > no_show_cutoff(now, grace_minutes):
        return slot, []
    marked = [b.moved(Status.NO_SHOW, now, SYSTEM) for b in slot.bookings if b.status is Status.BOOKED and not b.moving]
    swept = slot
    for booking in marked:
        swept = swept.with_booking(booking)
    swept, _ = promote_waitlist(swept, now, delay_reduction_percent)
    for waiting in swept.waitlist:
        expired = waiting.moved(Status.CANCELLED, now, SYSTEM)
        swept = swept.with_booking(replace(expired, cancel_reason=CancelReason.WAITLIST_EXPIRED))
    return swept, marked


def begin_reschedule(slot: Slot, booking: Booking, new_booking_id: str) -> Slot:
    """Mark a BOOKED booking as moving to `new_booking_id` (in another slot); it keeps its place meanwhile.

    The first of a reschedule's writes: a retry, or the sweeper, finds the mark and finishes the move.
    """
    if booking.status is not Status.BOOKED:
        raise _refuse_move(booking, Status.CANCELLED)
    if booking.rescheduled_to == new_booking_id:
        return slot
    if booking.rescheduled_to is not None:
        raise InvalidTransition(
            f"booking {booking.booking_id} is already being rescheduled", [{"rescheduledTo": booking.rescheduled_to}]
        )
    return slot.with_booking(replace(booking, rescheduled_to=new_booking_id))


def finish_reschedule(
    slot: Slot, booking: Booking, now: datetime, by: str, delay_reduction_percent: int = 20
) -> tuple[Slot, Booking]:
    """The new booking holds its place: the old one is CANCELLED (RESCHEDULED), its place to the waitlist."""
    if not booking.moving:
        raise _refuse_move(booking, Status.CANCELLED)
    moved = replace(booking.moved(Status.CANCELLED, now, by), cancel_reason=CancelReason.RESCHEDULED)
    changed, _ = promote_waitlist(slot.with_booking(moved), now, delay_reduction_percent)
    return changed, moved


def abandon_reschedule(slot: Slot, booking: Booking) -> Slot | None:
    """The new booking could not be made: the old one stays as it was. None when nothing changes."""
    if not booking.moving:
        return None
    return slot.with_booking(replace(booking, rescheduled_to=None))


def place_move(
    target: Slot,
    old: Booking,
    new_booking_id: str,
    now: datetime,
    delay_reduction_percent: int,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    by: str = SYSTEM,
) -> tuple[Slot | None, Booking]:
    """The second of a reschedule's writes: `old`'s patient and source booked in the target slot as
    `new_booking_id`, at most once.

    Returns (None, the booking) when it is there already, so writing it again changes nothing. A
    target that refused this id once (`refuse_move`) refuses it again, whatever room it has now.
    """
    if (placed := target.booking(new_booking_id)) is not None:
        return None, placed
    if (refused := target.refused_move(new_booking_id)) is not None:
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
        idempotency_key,
        request_hash,
        by=by,
        rescheduled_from=old.booking_id,
        phone=old.phone,  # the patient is told of the move on the same phone
    )


def refuse_move(target: Slot, new_booking_id: str, code: str, now: datetime) -> Slot | None:
    """Record in the target slot that the reschedule making `new_booking_id` is refused, for good.

    What lets the old booking's mark be cleared safely: a request or sweeper that read the mark
    before it was cleared can no longer book the new booking afterwards (`place_move` refuses it),
    so the patient never ends up with both places. None when nothing changes: the booking was made
    after all (the caller finishes the move instead), or the refusal is recorded already.
    Refusals older than REFUSED_MOVES_KEPT_FOR, and all but the newest MAX_REFUSED_MOVES, are dropped.
    """
    if target.booking(new_booking_id) is not None or target.refused_move(new_booking_id) is not None:
        return None
    kept = [r for r in target.refused_moves if r.at > now - REFUSED_MOVES_KEPT_FOR][-(MAX_REFUSED_MOVES - 1) :]
    return replace(target, refused_moves=(*kept, RefusedMove(new_booking_id, code, now)))


def call_order(bookings: Iterable[Booking]) -> list[Booking]:
    """The queue: the CALLED booking, then CRITICAL ones, then the others; each group by queue position."""
    return sorted(
        (b for b in bookings if b.in_queue),
        key=lambda b: (b.status is not Status.CALLED, not b.critical, b.place_in_group),
    )


def consultation_minutes(slot: Slot) -> float:
    """The median of the slot's consultations (calledAt → completedAt) once 3 are known, else its share of the slot."""
    known = sorted(
        (b.completed_at - b.called_at).total_seconds() / 60
        for b in slot.bookings
        if b.status is Status.COMPLETED and b.called_at is not None and b.completed_at is not None
    )
    if len(known) >= 3:
        return statistics.median(known)
    return (slot.end - slot.start).total_seconds() / 60 / slot.capacity.base


def standings(slot: Slot, now: datetime) -> dict[str, Standing]:
    """Position and estimated call time of every queued booking, by the contract's formula."""
    each = timedelta(minutes=consultation_minutes(slot))
    in_room = slot.called
    result = {}
    for position, booking in enumerate(call_order(slot.bookings)):
        if booking is in_room:
            result[booking.booking_id] = Standing(0, booking.called_at)
            continue
        if in_room is not None and in_room.called_at is not None:
            estimate = max(now, in_room.called_at + each) + (position - 1) * each
        else:
            estimate = max(now, slot.start + timedelta(minutes=slot.delay_minutes)) + position * each
        result[booking.booking_id] = Standing(position, estimate.replace(microsecond=0))
    return result


def answered(slot: Slot, booking: Booking, now: datetime) -> Booking:
    """The booking as an answer carries it: its standing in the slot's queue (None once out of it),
    or its place on the waitlist."""
    return answered_all(slot, [booking], now)[0]


def answered_all(slot: Slot, bookings: Iterable[Booking], now: datetime) -> list[Booking]:
    """`answered` for many bookings of one slot, its queue worked out once.

    Each field goes with the state the answer says: a repeat's first answer (`as_created`) that said
    WAITLISTED says so again with no position, even once the booking has been promoted since.
    """
    standing = standings(slot, now)
    waiting = {b.booking_id: n for n, b in enumerate(slot.waitlist, start=1)}
    return [
        replace(
            b,
            standing=standing.get(b.booking_id) if b.in_queue else None,
            waitlist_position=waiting.get(b.booking_id) if b.status is Status.WAITLISTED else None,
        )
        for b in bookings
    ]


@dataclass(frozen=True)
class BoardLine:
    """What the waiting-room screen shows of a slot: token numbers only, never who holds them."""

    calling: int | None
    next: tuple[int, ...]
    waiting: int


def board_line(slot: Slot) -> BoardLine:
    checked_in = [b.token for b in call_order(slot.bookings) if b.status is Status.CHECKED_IN and b.token]
    in_room = slot.called
    return BoardLine(
        calling=in_room.token if in_room else None, next=tuple(checked_in[:MAX_BOARD_NEXT]), waiting=len(checked_in)
    )


def slot_id_of_booking(booking_id: str) -> str | None:
    """Booking ids are `<slotId>.<nonce>`: the slot is found by its primary key in one query."""
    slot_id, sep, nonce = booking_id.rpartition(".")
    return slot_id if sep and slot_id and nonce else None


# -- doctors' sessions and leave -------------------------------------------------------------

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


LEAVE_CANCELS = frozenset({Status.WAITLISTED, Status.BOOKED, Status.CHECKED_IN})  # CALLED and final ones stay


def close_for_leave(slot: Slot, now: datetime, by: str) -> tuple[Slot | None, list[Booking]]:
    """The doctor is away: the slot takes no new bookings and its waiting patients are cancelled
    (DOCTOR_UNAVAILABLE). The patient in the room and finished ones are left as they are. Returns
    None for the slot when it was closed with nothing left to cancel: a repeat changes nothing."""
    cancelled = [
        replace(b.moved(Status.CANCELLED, now, by), cancel_reason=CancelReason.DOCTOR_UNAVAILABLE)
        for b in slot.bookings
        if b.status in LEAVE_CANCELS
    ]
    if slot.closed and not cancelled:
        return None, []
    closed = replace(slot, closed=True)
    for booking in cancelled:
        closed = closed.with_booking(booking)
    return closed, cancelled


# -- events: what each change tells the world --------------------------------------------------


class EventType(StrEnum):
    """The contract's detail-types (contract, "Events and SMS")."""

    BOOKING_CREATED = "BookingCreated"
    BOOKING_WAITLISTED = "BookingWaitlisted"
    BOOKING_PROMOTED = "BookingPromoted"
    BOOKING_CHECKED_IN = "BookingCheckedIn"
    BOOKING_CALLED = "BookingCalled"
    BOOKING_SKIPPED = "BookingSkipped"
    BOOKING_COMPLETED = "BookingCompleted"
    BOOKING_CANCELLED = "BookingCancelled"
    BOOKING_NO_SHOW = "BookingNoShow"
    BOOKING_RESCHEDULED = "BookingRescheduled"
    SLOT_CREATED = "SlotCreated"
    SLOT_DELAY_CHANGED = "SlotDelayChanged"
    SLOT_CLOSED = "SlotClosed"


# Unpublished events a slot may hold before its changes are refused (503 DEPENDENCY_UNAVAILABLE,
# "events backlog"): with the most one change can add (`MAX_EVENTS_PER_CHANGE`), what keeps the
# document under 256 KiB while EventBridge is away. Never reached while the relay runs: the request
# publishes its own events, and every write prunes what is known to be published.
MAX_PENDING_EVENTS = 100
MAX_WAITLIST_LIMIT = 100  # the WAITLIST_LIMIT setting's upper bound
# One change moves each of the slot's waiting or queued bookings at most once (a 3rd skip is two
# events for one booking, and it moves no one else), plus one slot event.
MAX_EVENTS_PER_CHANGE = MAX_PLACES + MAX_WAITLIST_LIMIT + 1


@dataclass(frozen=True)
class BookingSnapshot:
    """What a booking event keeps of the booking as it was, beyond what never changes.

    A booking's history only grows, one line per change of state, so its first `history_length`
    lines give the status, updatedAt, calledAt, completedAt, skips and whether it held a token
    then. What history cannot give is its standing at that moment: kept here.
    """

    history_length: int
    position: int | None = None
    estimated_call_at: datetime | None = None
    waitlist_position: int | None = None


@dataclass(frozen=True)
class SlotSnapshot:
    """What a slot event keeps of the slot as it was: capacity and times never change, these do."""

    delayed: bool
    delay_minutes: int
    closed: bool
    booked: int
    waitlisted: int
    # A delay set: the bookings then BOOKED or CHECKED_IN that have a phone, each sent an SMS.
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """One event of one change: its id is the same on every delivery (`<slotId>:<slotVersion>:<seq>`)."""

    detail_type: EventType
    occurred_at: datetime
    slot_id: str
    slot_version: int  # the version the change wrote
    seq: int  # its place among the events of that change
    slot: SlotSnapshot  # the slot as the change left it (every event's detail has the slot)
    booking_id: str | None = None
    booking: BookingSnapshot | None = None  # with booking_id: the booking's events

    @property
    def event_id(self) -> str:
        return f"{self.slot_id}:{self.slot_version}:{self.seq}"


def _booking_moves(earlier: Status | None, later: Status, reason: CancelReason | None) -> list[EventType]:
    """The events of one line of a booking's history: from `earlier` (None: a new booking) to `later`."""
    if earlier is None:
        return [EventType.BOOKING_WAITLISTED if later is Status.WAITLISTED else EventType.BOOKING_CREATED]
    match later:
        case Status.BOOKED:
            return [EventType.BOOKING_PROMOTED]
        case Status.CHECKED_IN:
            return [EventType.BOOKING_SKIPPED if earlier is Status.CALLED else EventType.BOOKING_CHECKED_IN]
        case Status.CALLED:
            return [EventType.BOOKING_CALLED]
        case Status.COMPLETED:
            return [EventType.BOOKING_COMPLETED]
        case Status.CANCELLED:
            rescheduled = reason is CancelReason.RESCHEDULED
            return [EventType.BOOKING_RESCHEDULED if rescheduled else EventType.BOOKING_CANCELLED]
        case Status.NO_SHOW:
            if earlier is Status.CALLED:  # the 3rd skip
                return [EventType.BOOKING_SKIPPED, EventType.BOOKING_NO_SHOW]
            return [EventType.BOOKING_NO_SHOW]
        case _:
            return []


def slot_snapshot(slot: Slot, with_recipients: bool = False) -> SlotSnapshot:
    recipients = tuple(
        b.booking_id for b in slot.bookings if b.status in (Status.BOOKED, Status.CHECKED_IN) and b.phone
    )
    return SlotSnapshot(
        delayed=slot.delayed,
        delay_minutes=slot.delay_minutes,
        closed=slot.closed,
        booked=slot.booked,
        waitlisted=len(slot.waitlist),
        recipients=recipients if with_recipients else (),
    )


def events_between(before: Slot | None, after: Slot, now: datetime) -> list[Event]:
    """The events of the change from `before` (None: a new slot) to `after`: the one place that knows
    which change is which detail-type. Slot events first, then each booking's, in the slot's order.

    Read from the bookings' histories: every line a change added is one move, so a booking moved
    twice by one change (never today) would still tell both.
    """
    version = after.version if before is None else before.version + 1
    plain = slot_snapshot(after)  # every event carries the slot as the change left it
    found: list[tuple[EventType, Booking | None, BookingSnapshot | None]] = []
    if before is None:
        found.append((EventType.SLOT_CREATED, None, None))
    else:
        if (before.delayed, before.delay_minutes) != (after.delayed, after.delay_minutes):
            found.append((EventType.SLOT_DELAY_CHANGED, None, None))
        if after.closed and not before.closed:
            found.append((EventType.SLOT_CLOSED, None, None))
    earlier = {b.booking_id: b for b in before.bookings} if before is not None else {}
    standing = waiting = None
    for booking in after.bookings:
        was = earlier.get(booking.booking_id)
        seen = len(was.history) if was is not None else 0
        if len(booking.history) <= seen:
            continue
        if standing is None or waiting is None:  # only for changes that move a booking
            standing, waiting = standings(after, now), [b.booking_id for b in after.waitlist]
        for length in range(seen + 1, len(booking.history) + 1):
            previous = booking.history[length - 2].status if length > 1 else None
            last = length == len(booking.history)
            now_standing = standing.get(booking.booking_id) if last else None
            snapshot = BookingSnapshot(
                history_length=length,
                position=now_standing.position if now_standing else None,
                estimated_call_at=now_standing.estimated_call_at if now_standing else None,
                waitlist_position=(
                    waiting.index(booking.booking_id) + 1 if last and booking.booking_id in waiting else None
                ),
            )
            reason = booking.cancel_reason if last else None
            for kind in _booking_moves(previous, booking.history[length - 1].status, reason):
                found.append((kind, booking, snapshot))
    return [
        Event(
            detail_type=kind,
            occurred_at=now,
            slot_id=after.slot_id,
            slot_version=version,
            seq=seq,
            booking_id=booking.booking_id if booking is not None else None,
            booking=snapshot,
            slot=slot_snapshot(after, with_recipients=kind is EventType.SLOT_DELAY_CHANGED and after.delayed)
            if kind is EventType.SLOT_DELAY_CHANGED
            else plain,
        )
        for seq, (kind, booking, snapshot) in enumerate(found)
    ]


def with_events(before: Slot | None, after: Slot, now: datetime, published_through: int | None = None) -> Slot:
    """`after` as it must be written: its outbox is what `before` held, less what is known to be published
    (every event of a version up to `published_through`), and the events of this change.

    So a change and its events are one write: neither can exist without the other. A change that
    has events to add while `MAX_PENDING_EVENTS` still wait is refused (EventsBacklog): an event is
    never dropped, and the document stays bounded.
    """
    held = before.outbox if before is not None else ()
    kept = tuple(e for e in held if published_through is None or e.slot_version > published_through)
    new = events_between(before, after, now)
    if new and len(kept) >= MAX_PENDING_EVENTS:
        raise EventsBacklog(
            f"events backlog: slot {after.slot_id} holds {len(kept)} events EventBridge has not taken yet; "
            "try again in a minute"
        )
    return replace(after, outbox=(*kept, *new))


def published_through(outbox: Sequence[Event], published: set[str] | frozenset[str]) -> int | None:
    """The highest version all of whose events, and all older ones in `outbox`, are in `published`."""
    through = None
    for version, events in groupby(outbox, key=lambda e: e.slot_version):
        if any(e.event_id not in published for e in events):
            break
        through = version
    return through
