"""POST /bookings/{bookingId}/no-show (reception, admin): the patient did not come; frees the place at once."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from opd.api.auth import STAFF
from opd.api.models import BookingIdPath, BookingOut
from opd.api.resolver import allocator, answer, caller, make_app, make_handler

app = make_app()


@app.post("/bookings/<bookingId>/no-show")
def mark_no_show(bookingId: BookingIdPath) -> Response[BookingOut]:
    caller(app).require(*STAFF)
    return answer(BookingOut.of(allocator().mark_no_show(bookingId)))


lambda_handler = make_handler(app)
