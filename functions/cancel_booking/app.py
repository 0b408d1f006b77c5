"""POST /bookings/{bookingId}/cancel (the patient who holds it, reception, admin): frees the place at once.

The place goes to the slot's waitlist first, in the same write. The cancellation records why: PATIENT when
the patient cancelled it, STAFF when reception or admin did.
"""

from __future__ import annotations

from opd.api.answers import booking_out
from opd.api.auth import BOOKING_READERS, STAFF, may_see
from opd.api.models import BookingIdPath
from opd.api.openapi import BEARER, TRANSITION_ERRORS, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut
from opd.domain import CancelReason

app = make_app()


@app.post(
    "/bookings/<bookingId>/cancel",
    summary="Cancel a booking; its place is free at once, for the waitlist first (its patient, reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {"description": "OK: the cancelled booking"},
        **error_responses(*TRANSITION_ERRORS),
    },
)
def cancel_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app).require(*BOOKING_READERS)
    service = allocator()
    may_see(who, service.get_booking(bookingId))  # whose booking it is never changes
    reason = CancelReason.STAFF if who.is_any(*STAFF) else CancelReason.PATIENT
    return answer(booking_out(service.cancel(bookingId, by=who.username, reason=reason)))


lambda_handler = make_handler(app)
