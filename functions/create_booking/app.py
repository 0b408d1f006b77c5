"""POST /bookings: give a patient the next token in a slot, if their tier still has room.

With `"waitlist": true`, a full tier puts the patient on the slot's waitlist instead (WAITLISTED, no token),
while it has fewer than WAITLIST_LIMIT; then WAITLIST_FULL.

Optional header `Idempotency-Key`: a repeat with the same key and body gets the first answer.
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api import bookings
from opd.api.models import CreateBookingRequest, IdempotencyKeyHeader
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, make_app, make_handler
from opd.contract import BookingOut
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
    WaitlistFull,
)

app = make_app()


@app.post(
    "/bookings",
    summary="Book a patient into a slot: the next token if the tier has room, else with `waitlist` a place on "
    "its waitlist (patient: ONLINE, for themselves)",
    tags=["bookings"],
    security=BEARER,
    responses={
        201: {
            "description": "Created: the new booking, BOOKED with a token or WAITLISTED with its waitlistPosition "
            "(or, for a repeated Idempotency-Key, the first answer)"
        },
        **error_responses(
            ValidationFailed,
            Unauthorized,
            Forbidden,
            NotFound,
            SlotFull,
            WaitlistFull,
            DuplicateBooking,
            SlotClosed,
            IdempotencyConflict,
            SlotBusy,
            DependencyUnavailable,
        ),
    },
)
def create_booking(request: CreateBookingRequest, key: IdempotencyKeyHeader = None) -> Response[BookingOut]:
    return answer(bookings.book(request, caller(app), key), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
