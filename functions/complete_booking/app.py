"""POST /bookings/{bookingId}/complete (reception, admin): the doctor has seen the patient (CALLED or CHECKED_IN)."""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import STAFF
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, TRANSITION_ERRORS, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut

app = make_app()


@app.post(
    "/bookings/<bookingId>/complete",
    summary="Complete a consultation (reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the completed booking (it was CALLED, or CHECKED_IN without the room flow)"},
        **error_responses(*TRANSITION_ERRORS),
    },
)
def complete_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*STAFF)
    return answer(booking_out(allocator().complete(bookingId, by=who.username)))


lambda_handler = make_handler(app)
