"""POST /bookings/{bookingId}/no-show (reception, admin): the patient did not come; frees the place at once."""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import STAFF
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, TRANSITION_ERRORS, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut

app = make_app()


@app.post(
    "/bookings/<bookingId>/no-show",
    summary="Mark a no-show; its place is free at once (reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the booking, now NO_SHOW"},
        **error_responses(*TRANSITION_ERRORS),
    },
)
def mark_no_show(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*STAFF)
    return answer(booking_out(allocator().mark_no_show(bookingId, by=who.username)))


lambda_handler = make_handler(app)
