"""POST /bookings: authorise the caller, book (at most once per Idempotency-Key, in their name), answer the booking."""

from __future__ import annotations

from typing import Any

from opd.api import idempotency
from opd.api.auth import Caller, may_book
from opd.api.models import BookingOut, CreateBookingRequest
from opd.api.observability import count
from opd.api.resolver import allocator


def book(request: CreateBookingRequest, caller: Caller, idempotency_key: str | None) -> dict[str, Any]:
    """The new booking as the contract's JSON; with a key, the first answer given for it."""
    may_book(caller, request.patient_id, request.source)
    key = None
    if idempotency_key is not None:
        body = request.model_dump(mode="json", by_alias=True)
        key = idempotency.request_key(caller=caller.username, key=idempotency_key, body=body)
    booked = allocator().book_once(
        request.slot_id, request.patient_id, request.source, key, by=caller.username, phone=request.phone
    )
    if not booked.replayed:
        count("Bookings", tier=booked.booking.tier.value)
    return BookingOut.of(booked.booking).model_dump(mode="json")
