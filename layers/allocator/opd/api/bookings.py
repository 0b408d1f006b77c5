"""POST /bookings: authorise the caller, book (at most once per Idempotency-Key, in their name), answer the booking.

A full tier is SLOT_FULL, or with `"waitlist": true` a place on the slot's waitlist (WAITLISTED, no token).
The booking's language (contract, "Languages"): the body's `language`, else its patient's in the register, else
DEFAULT_LANGUAGE; fixed when it is made, and its SMS are written in it.
"""

from __future__ import annotations

from opd.api import idempotency
from opd.api.answers import booking_out
from opd.api.auth import Caller, may_book
from opd.api.models import CreateBookingRequest
from opd.api.observability import count, logger
from opd.api.resolver import allocator, patients
from opd.contract import BookingOut
from opd.domain import BookingOptions, Language, Status
from opd.errors import DependencyUnavailable
from opd.settings import current as settings


def book(request: CreateBookingRequest, caller: Caller, idempotency_key: str | None) -> BookingOut:
    """The new booking as the contract shows it; with a key, the first answer given for it."""
    may_book(caller, request.patient_id, request.source)
    key = None
    if idempotency_key is not None:
        # The body as sent, less fields left at their defaults: `"waitlist": true` is part of the hash, and a
        # body without it hashes as before the field existed (and as `"waitlist": false`, which means the same).
        # So is `language`: in the hash only when given, never the language the service resolved for it.
        body = request.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        key = idempotency.request_key(caller=caller.username, key=idempotency_key, body=body)
    asked = BookingOptions(
        by=caller.username, waitlist=request.waitlist, phone=request.phone, language=language_of(request)
    )
    booked = allocator().book_once(request.slot_id, request.patient_id, request.source, key, asked)
    if not booked.replayed:
        waitlisted = booked.booking.status is Status.WAITLISTED
        count("Waitlisted" if waitlisted else "Bookings", tier=booked.booking.tier.value)
    return booking_out(booked.booking)


def language_of(request: CreateBookingRequest) -> Language:
    """The new booking's language: the one asked for, else its patient's (one read of the register by primary key,
    before the booking is written), else DEFAULT_LANGUAGE."""
    if request.language is not None:
        return request.language
    try:
        registered = patients().language_of(request.patient_id)
    except DependencyUnavailable as lost:
        # The language only chooses the words of the SMS: a register that cannot be read must not cost the patient
        # their place (the slot's store may be up while the register is not), so the booking takes the default.
        logger.warning("the patient's language was not read, the booking takes the default: %s", lost.message)
        registered = None
    return registered or settings().default_language
