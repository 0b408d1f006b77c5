"""GET /bookings/{bookingId} (the patient who holds it, reception, admin)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from opd.api.auth import may_see
from opd.api.models import BookingIdPath, BookingOut
from opd.api.resolver import allocator, answer, caller, make_app, make_handler

app = make_app()


@app.get("/bookings/<bookingId>")
def get_booking(bookingId: BookingIdPath) -> Response[BookingOut]:
    who = caller(app)
    booking = allocator().get_booking(bookingId)
    may_see(who, booking)
    return answer(BookingOut.of(booking))


lambda_handler = make_handler(app)
