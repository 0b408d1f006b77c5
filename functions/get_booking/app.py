"""GET /bookings/{bookingId} (the patient who holds it, reception, admin)."""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import BOOKING_READERS, may_see
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut
from opd.errors import DependencyUnavailable, Forbidden, NotFound, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/bookings/<bookingId>",
    summary="A booking (its patient, reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the booking"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, DependencyUnavailable),
    },
)
def get_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*BOOKING_READERS)
    booking = allocator().get_booking(bookingId)
    may_see(who, booking)
    return answer(booking_out(booking))


lambda_handler = make_handler(app)
