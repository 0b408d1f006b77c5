"""POST /bookings: authorise the caller, book (at most once per Idempotency-Key, in their name), answer the booking.

A full tier is SLOT_FULL, or with `"waitlist": true` a place on the slot's waitlist (WAITLISTED, no token).
"""

from __future__ import annotations

from opd.api import idempotency
from opd.api.answers import booking_out
from opd.api.auth import Caller, may_book
from opd.api.models import CreateBookingRequest
from opd.api.observability import count
from opd.api.resolver import allocator
from opd.contract import BookingOut
from opd.domain import Status


def book(request: CreateBookingRequest, caller: Caller, idempotency_key: str | None) -> BookingOut:
    """The new booking as the contract shows it; with a key, the first answer given for it."""
    may_book(caller, request.patient_id, request.source)
    key = None
    if idempotency_key is not None:
        # The body as sent, less fields left at their defaults: `"waitlist": true` is part of the hash, and a
        # body without it hashes as before the field existed (and as `"waitlist": false`, which means the same).
        body = request.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        key = idempotency.request_key(caller=caller.username, key=idempotency_key, body=body)
    booked = allocator().book_once(
        request.slot_id,
        request.patient_id,
        request.source,
        key,
        by=caller.username,
        waitlist=request.waitlist,
        phone=request.phone,
    )
    if not booked.replayed:
        waitlisted = booked.booking.status is Status.WAITLISTED
        count("Waitlisted" if waitlisted else "Bookings", tier=booked.booking.tier.value)
    return booking_out(booked.booking)
