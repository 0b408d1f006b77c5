"""POST /bookings: authorise the caller, book (at most once per Idempotency-Key, in their name), answer the booking.

A full tier is SLOT_FULL, or with `"waitlist": true` a place on the slot's waitlist (WAITLISTED, no token).
The booking's language (contract, "Languages"): the body's `language`, else its patient's in the register, else
DEFAULT_LANGUAGE; fixed when it is made, and its SMS are written in it.
"""

from __future__ import annotations

from collections.abc import Mapping

from opd.api import idempotency
from opd.api.answers import booking_out
from opd.api.auth import Caller, may_book
from opd.api.models import CreateBookingRequest
from opd.api.observability import count, logger
from opd.api.resolver import allocator, patients
from opd.contract import NO_NAMES, BookingOut
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
    language, names = registered(request)
    asked = BookingOptions(by=caller.username, waitlist=request.waitlist, phone=request.phone, language=language)
    booked = allocator().book_once(request.slot_id, request.patient_id, request.source, key, asked)
    if not booked.replayed:
        waitlisted = booked.booking.status is Status.WAITLISTED
        count("Waitlisted" if waitlisted else "Bookings", tier=booked.booking.tier.value)
    return booking_out(booked.booking) if names is None else BookingOut.of(booked.booking, names)


def registered(request: CreateBookingRequest) -> tuple[Language, Mapping[str, str] | None]:
    """The new booking's language: the one asked for, else its patient's (one read of the register by primary key,
    before the booking is written), else DEFAULT_LANGUAGE. With it, the patient's name for the answer when that
    read was made (None: the answer reads it, `booking_out`), so the register is read once either way."""
    if request.language is not None:
        return request.language, None
    try:
        found = patients().name_and_language(request.patient_id)
    except DependencyUnavailable as lost:
        # The language only chooses the words of the SMS: a register that cannot be read must not cost the patient
        # their place (the slot's store may be up while the register is not), so the booking takes the default,
        # and its answer a null name, as every answer does while the register is away (`opd.api.answers`).
        logger.warning("the patient's language was not read, the booking takes the default: %s", lost.message)
        return settings().default_language, NO_NAMES
    names = NO_NAMES if found.name is None else {request.patient_id: found.name}
    return found.language or settings().default_language, names
