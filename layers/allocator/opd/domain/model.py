"""The domain's values: slots, their bookings and capacity, and the events a change leaves behind.

Plain frozen data with the questions it answers about itself (places held, the waitlist, a
booking by id); what may change and how is in `rules`, `queue`, `reschedule`, `sessions` and
`outbox`, the states a booking moves through in `states`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from opd.domain.languages import Language
from opd.domain.states import AWAITING_ARRIVAL, HOLDS_PLACE, IN_QUEUE, CancelReason, EventType, Status
from opd.errors import IdempotencyConflict, ValidationFailed

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_DELAY_MINUTES = 24 * 60

# A slot's stored document must stay under 256 KiB whatever clients do (contract, "Capacity rules").
# It holds at most BOOKINGS_PER_PLACE bookings per place, in any state, and a cancelled booking with
# its history takes ~670 bytes of BSON (64-character ids and usernames, both idempotency hashes, its language),
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


SYSTEM = "system"  # who made a change that no caller asked for (the sweeper)


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
    # The key of its public status link (`domain.status`): made by the service with the booking, never changed;
    # shown to its owner and staff only. None on bookings made before status links.
    status_code: str | None = None
    # The language of its SMS (contract, "Languages"): the one asked for, else its patient's, else DEFAULT_LANGUAGE,
    # fixed when it is made (a reschedule's new booking keeps the old one's). None on bookings made before
    # languages: their SMS go in DEFAULT_LANGUAGE.
    language: Language | None = None
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
    def rescheduling(self) -> bool:
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

    def became(self, to: Status, now: datetime, by: str) -> Booking:
        """This booking in state `to`, its history one line longer."""
        return replace(self, status=to, updated_at=now, history=(*self.history, Change(to, now, by)))


@dataclass(frozen=True)
class RefusedReschedule:
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
    refused_reschedules: tuple[RefusedReschedule, ...] = ()  # oldest first
    # From then on the waitlist is over (start + the no-show grace, fixed when the slot is made): nobody
    # joins it or is promoted from it, and the sweeper ends it. None: it never closes (slots made before v3).
    waitlist_ends_at: datetime | None = None
    # A Bloom filter (base64) of the patients whose finished bookings here went to the archive
    # (`domain.archive`); empty while none did.
    archived_patients: str = ""
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

    def waitlist_open(self, now: datetime) -> bool:
        """Whether patients may still join the waitlist, and be promoted from it, at `now`."""
        return self.waitlist_ends_at is None or now < self.waitlist_ends_at

    @property
    def waitlist(self) -> list[Booking]:
        """WAITLISTED bookings in the order they joined."""
        return [b for b in self.bookings if b.status is Status.WAITLISTED]

    @property
    def awaiting_arrival(self) -> bool:
        """True while some booking is BOOKED or WAITLISTED: the sweeper's index looks for these slots."""
        return any(b.status in AWAITING_ARRIVAL for b in self.bookings)

    @property
    def reschedules_pending(self) -> bool:
        """True while a booking here is being rescheduled: the sweeper finishes reschedules a request left."""
        return any(b.rescheduling for b in self.bookings)

    def limits(self, delay_reduction_percent: int) -> dict[Tier, int]:
        return tier_limits(self.capacity, self.delayed, delay_reduction_percent)

    def available(self, delay_reduction_percent: int) -> dict[Tier, int]:
        booked = self.booked
        return {tier: max(0, limit - booked) for tier, limit in self.limits(delay_reduction_percent).items()}

    def booking(self, booking_id: str) -> Booking | None:
        return next((b for b in self.bookings if b.booking_id == booking_id), None)

    def refused_reschedule(self, booking_id: str) -> RefusedReschedule | None:
        return next((r for r in self.refused_reschedules if r.booking_id == booking_id), None)

    def booking_for_key(self, idempotency_key: str, request_hash: str) -> Booking | None:
        """The booking an earlier request with this key made here; the same key with another body is a conflict."""
        return booking_for_key(self.bookings, idempotency_key, request_hash)

    def with_booking(self, updated: Booking) -> Slot:
        return replace(
            self, bookings=tuple(updated if b.booking_id == updated.booking_id else b for b in self.bookings)
        )


def booking_for_key(bookings: Iterable[Booking], idempotency_key: str, request_hash: str) -> Booking | None:
    """The booking an earlier request with this key made, among `bookings`; the key with another body: a conflict."""
    earlier = next((b for b in bookings if b.idempotency_key == idempotency_key), None)
    if earlier is not None and earlier.request_hash != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different body")
    return earlier


def slot_id_of_booking(booking_id: str) -> str | None:
    """Booking ids are `<slotId>.<nonce>`: the slot is found by its primary key in one query."""
    slot_id, sep, nonce = booking_id.rpartition(".")
    return slot_id if sep and slot_id and nonce else None


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
