"""POST /bookings/{bookingId}/reschedule (the patient who holds it, reception, admin): reschedule a BOOKED
booking to another slot. The answer is the new booking; the old one is CANCELLED (RESCHEDULED).

A repeat returns the same new booking; a reschedule cut off halfway is finished by the repeat or by the
next sweeper run. Optional header `Idempotency-Key`, as for POST /bookings.
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api import idempotency
from opd.api.answers import booking_out
from opd.api.auth import BOOKING_READERS, may_see
from opd.api.models import BookingIdPath, IdempotencyKeyHeader, RescheduleRequest
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import BookingOut
from opd.errors import (
    DependencyUnavailable,
    DuplicateBooking,
    Forbidden,
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    SlotBusy,
    SlotClosed,
    SlotFull,
    Unauthorized,
    ValidationFailed,
)

app = make_app()


@app.post(
    "/bookings/<bookingId>/reschedule",
    summary="Move a BOOKED booking to another slot: the new booking (its patient, reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        201: {"description": "Created: the new booking (a repeat gets the same one)"},
        **error_responses(
            ValidationFailed,
            Unauthorized,
            Forbidden,
            NotFound,
            SlotFull,
            DuplicateBooking,
            SlotClosed,
            InvalidTransition,
            IdempotencyConflict,
            SlotBusy,
            DependencyUnavailable,
        ),
    },
)
def reschedule_booking(
    bookingId: BookingIdPath, request: RescheduleRequest, key: IdempotencyKeyHeader = None
) -> Response[BookingOut]:
    who = caller(app).require(*BOOKING_READERS)
    service = allocator()
    may_see(who, service.get_booking(bookingId))  # whose booking it is never changes
    body = request.model_dump(mode="json", by_alias=True)
    request_key = None if key is None else idempotency.request_key(caller=who.username, key=key, body=body)
    moved = service.reschedule(bookingId, request.slot_id, by=who.username, key=request_key)
    return answer(booking_out(moved), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
