"""POST /bookings/{bookingId}/cancel (the patient who holds it, reception, admin): frees the place at once."""

from __future__ import annotations

from opd.api.auth import BOOKING_READERS, may_see
from opd.api.models import BookingIdPath, BookingOut
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.errors import (
    DependencyUnavailable,
    Forbidden,
    InvalidTransition,
    NotFound,
    SlotBusy,
    Unauthorized,
    ValidationFailed,
)

app = make_app()


@app.post(
    "/bookings/<bookingId>/cancel",
    summary="Cancel a booking; its place is free at once (its patient, reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the cancelled booking"},
        **error_responses(
            ValidationFailed, Unauthorized, Forbidden, NotFound, InvalidTransition, SlotBusy, DependencyUnavailable
        ),
    },
)
def cancel_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*BOOKING_READERS)
    service = allocator()
    may_see(who, service.get_booking(bookingId))  # whose booking it is never changes
    return answer(BookingOut.of(service.cancel(bookingId, by=who.username)))


lambda_handler = make_handler(app)
