"""POST /bookings/{bookingId}/skip (reception, admin): a called patient did not come in.

CALLED becomes CHECKED_IN at the end of its call-order group; the 3rd skip makes it NO_SHOW, which
gives its place back. Any other state is 409 INVALID_TRANSITION.
"""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import STAFF
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, TRANSITION_ERRORS, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut

app = make_app()


@app.post(
    "/bookings/<bookingId>/skip",
    summary="Skip a called patient who did not come in: to the end of their group; the 3rd skip is a no-show "
    "(reception, admin)",
    tags=["room"],
    security=BEARER,
    responses={
        200: {"description": "OK: the booking, CHECKED_IN again at the end of its group, or NO_SHOW at the 3rd skip"},
        **error_responses(*TRANSITION_ERRORS),
    },
)
def skip_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*STAFF)
    return answer(booking_out(allocator().skip(bookingId, by=who.username)))


lambda_handler = make_handler(app)
