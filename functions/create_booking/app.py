"""POST /bookings: give a patient the next token in a slot, if their tier still has room.

Optional header `Idempotency-Key`: a repeat with the same key and body gets the first answer.
"""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from opd.api import bookings
from opd.api.models import BookingOut, CreateBookingRequest, IdempotencyKeyHeader
from opd.api.resolver import answer, caller, make_app, make_handler

app = make_app()


@app.post("/bookings")
def create_booking(request: CreateBookingRequest, key: IdempotencyKeyHeader = None) -> Response[BookingOut]:
    booking = bookings.book(request, caller(app), key)
    return answer(BookingOut.model_validate(booking), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
