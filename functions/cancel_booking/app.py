"""POST /bookings/{bookingId}/cancel (the patient who holds it, reception, admin): frees the place at once."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from opd.api.auth import may_see
from opd.api.models import BookingIdPath, BookingOut
from opd.api.resolver import allocator, answer, caller, make_app, make_handler

app = make_app()


@app.post("/bookings/<bookingId>/cancel")
def cancel_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app)
    service = allocator()
    may_see(who, service.get_booking(bookingId))  # whose booking it is never changes
    return answer(BookingOut.of(service.cancel(bookingId)))


lambda_handler = make_handler(app)
