"""POST /bookings/{bookingId}/check-in (reception, admin): the patient has arrived."""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import STAFF
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, TRANSITION_ERRORS, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut

app = make_app()


@app.post(
    "/bookings/<bookingId>/check-in",
    summary="Check a patient in on arrival (reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the checked-in booking"},
        **error_responses(*TRANSITION_ERRORS),
    },
)
def check_in_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*STAFF)
    return answer(booking_out(allocator().check_in(bookingId, by=who.username)))


lambda_handler = make_handler(app)
