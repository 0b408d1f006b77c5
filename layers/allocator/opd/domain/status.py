"""A booking's public status (contract, "Status links"): what its status link shows, and nothing more.

Every booking is made with a status code (`Booking.status_code`, made by the service: `service.ids`), and
`GET /status/{code}` answers the Status of the booking that has it: its token and state, its slot's times and
notices, its place in the queue or on the waitlist, and the token the room is calling. Nothing that names or
reaches the patient: no patient id, name, phone, booking id, nor another booking's code. A rescheduled booking's
code shows the booking that replaced it (followed at most MAX_STATUS_HOPS times).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from opd.domain.model import Booking, Slot
from opd.domain.queue import answered, board_line
from opd.domain.states import Status
from opd.errors import ValidationFailed

# What a status code may look like: URL-safe base64 characters, 16 (the 96 random bits the service makes) to 64.
STATUS_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Reschedules followed from a code to the booking it now shows; a longer chain shows the booking reached then.
MAX_STATUS_HOPS = 5


@dataclass(frozen=True)
class BookingStatus:
    """The Status of one booking, as of `now`; `doctor_id` only to look up the doctor's name and room."""

    doctor_id: str
    token: int | None
    status: Status
    start: datetime
    end: datetime
    delayed: bool
    delay_minutes: int
    closed: bool
    position: int | None  # bookings ahead of it in call order (the CALLED one included); 0 when CALLED
    estimated_call_at: datetime | None
    waitlist_position: int | None  # 1-based, while WAITLISTED
    calling: int | None  # the token in the doctor's room


def require_status_code(code: str) -> str:
    if not STATUS_CODE_PATTERN.fullmatch(code):
        raise ValidationFailed.field("code", "must be 16-64 characters of A-Za-z0-9_-")
    return code


def with_status_code(bookings: Iterable[Booking], code: str) -> Booking | None:
    """The booking among `bookings` whose status code is `code`."""
    return next((b for b in bookings if b.status_code == code), None)


def replaced_by(booking: Booking) -> str | None:
    """The id of the booking a rescheduled one became: its status link shows that one. None for any other booking
    (one still being rescheduled is BOOKED, and keeps its place until the move is finished)."""
    return booking.rescheduled_to if booking.status is Status.CANCELLED else None


def booking_status(slot: Slot, booking: Booking, now: datetime) -> BookingStatus:
    """`booking` of `slot` (in it, or archived from it) as its status link shows it at `now`: its standing and
    waitlist place as the Booking answers them (`answered`), the slot's notices, and the token being called."""
    shown = answered(slot, booking, now)
    standing = shown.standing
    return BookingStatus(
        doctor_id=slot.doctor_id,
        token=shown.token,
        status=shown.status,
        start=slot.start,
        end=slot.end,
        delayed=slot.delayed,
        delay_minutes=slot.delay_minutes,
        closed=slot.closed,
        position=None if standing is None else standing.position,
        estimated_call_at=None if standing is None else standing.estimated_call_at,
        waitlist_position=shown.waitlist_position,
        calling=board_line(slot).calling,
    )
