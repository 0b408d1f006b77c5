"""POST /bookings: give a patient the next token in a slot, if their tier still has room.

Optional header `Idempotency-Key`: a repeat with the same key and body gets the first answer.
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api import bookings
from opd.api.models import BookingOut, CreateBookingRequest, IdempotencyKeyHeader
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, make_app, make_handler
from opd.errors import (
    DependencyUnavailable,
    DuplicateBooking,
    Forbidden,
    IdempotencyConflict,
    NotFound,
    SlotBusy,
    SlotClosed,
    SlotFull,
    Unauthorized,
    ValidationFailed,
)

app = make_app()


@app.post(
    "/bookings",
    summary="Book a patient into a slot: the next token, if the tier has room (patient: ONLINE, for themselves)",
    tags=["bookings"],
    security=BEARER,
    responses={
        201: {"description": "Created: the new booking (or, for a repeated Idempotency-Key, the first answer)"},
        **error_responses(
            ValidationFailed,
            Unauthorized,
            Forbidden,
            NotFound,
            SlotFull,
            DuplicateBooking,
            SlotClosed,
            IdempotencyConflict,
            SlotBusy,
            DependencyUnavailable,
        ),
    },
)
def create_booking(request: CreateBookingRequest, key: IdempotencyKeyHeader = None) -> Response[BookingOut]:
    booking = bookings.book(request, caller(app), key)
    return answer(BookingOut.model_validate(booking), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
