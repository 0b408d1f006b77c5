"""Bookings as staff and their owner are answered them: each with its patient's name from the register.

The names are read as the answer is made (one `$in` on the register for a whole queue), so a name corrected
at the desk shows at once, and a walk-in registered after booking is named from then on. The name is a
courtesy beside the booking: a register that cannot be read answers null names, never a 503, since a booking
already written must never be answered 503 (contract, "Bookings").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opd.api.observability import logger
from opd.api.resolver import patients
from opd.contract import NO_NAMES, BookingOut
from opd.domain import Booking
from opd.errors import DependencyUnavailable


def names_of(bookings: Iterable[Booking | None]) -> Mapping[str, str]:
    """Patient id to registered name for these bookings' patients (None entries skipped)."""
    ids = {booking.patient_id for booking in bookings if booking is not None}
    if not ids:
        return NO_NAMES
    try:
        return patients().names_of(ids)
    except DependencyUnavailable as lost:
        logger.warning("patient names left null in this answer: %s", lost.message)
        return NO_NAMES


def booking_out(booking: Booking) -> BookingOut:
    return BookingOut.of(booking, names_of([booking]))


def bookings_out(bookings: list[Booking]) -> list[BookingOut]:
    names = names_of(bookings)
    return [BookingOut.of(booking, names) for booking in bookings]
