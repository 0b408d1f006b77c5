"""POST /bookings: authorise the caller, book (at most once per Idempotency-Key), answer the booking."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opd.api import errors, idempotency
from opd.api.auth import Caller, may_book
from opd.api.models import BookingOut, CreateBookingRequest
from opd.api.observability import count
from opd.api.resolver import allocator
from opd.errors import OpdError


def book(
    request: CreateBookingRequest, caller: Caller, idempotency_key: str | None, context: LambdaContext
) -> dict[str, Any]:
    """The new booking as the contract's JSON; with a key, the first answer given for it."""
    may_book(caller, request.patient_id, request.source)
    if idempotency_key is None:
        return _book(request)
    answer = idempotency.once(
        caller=caller.username,
        key=idempotency_key,
        body=request.model_dump(mode="json", by_alias=True),
        compute=lambda: _definitive_answer(request),
        context=context,
    )
    if "error" in answer:
        raise errors.stored_refusal(answer["error"])
    booking: dict[str, Any] = answer["booking"]
    return booking


def _book(request: CreateBookingRequest) -> dict[str, Any]:
    booking = allocator().book(request.slot_id, request.patient_id, request.source)
    count("Bookings", tier=booking.tier.value)
    return BookingOut.of(booking).model_dump(mode="json")


def _definitive_answer(request: CreateBookingRequest) -> dict[str, Any]:
    """A booking or a final refusal (full, duplicate, closed, no such slot); transient errors raise."""
    try:
        return {"booking": _book(request)}
    except errors.TRANSIENT:
        raise
    except OpdError as refusal:
        return errors.envelope(refusal.code, refusal.message, refusal.details)
