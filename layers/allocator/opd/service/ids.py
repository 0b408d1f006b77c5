"""The clock and what the service makes up: a slot's id, a booking's (which names its slot), its status code."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime

# A booking id's nonce: 12 hex digits of the Unix time in ms, then 8 of a number that is random at each
# new millisecond and counts up within one (as a monotonic ULID does). So ids sort as their bookings were
# made, within a process always, across processes to the clocks' agreement: a patient's list orders a
# slot's bookings by id, and a booking made after a page was answered comes after that page.
_last = [0, 0]  # the last nonce's (ms, number)
_guard = threading.Lock()
# A status code's random bytes: 96 bits, 16 URL-safe characters (A-Za-z0-9_-). Guessing one is hopeless (a
# billion guesses find one of a million live bookings with a chance of 1 in 8 x 10^13), and two bookings never
# get the same one in practice (a billion bookings: a chance of about 6 x 10^-12 that any two share one).
STATUS_CODE_BYTES = 12


def utc_now() -> datetime:
    """Now, to the millisecond: BSON keeps milliseconds, so what we answer equals what we store."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_slot_id() -> str:
    return f"slot-{secrets.token_hex(12)}"


def new_booking_id(slot_id: str) -> str:
    ms = time.time_ns() // 1_000_000
    with _guard:
        if ms <= _last[0]:  # the same millisecond (or a clock stepped back): count up from the last
            ms, number = _last[0], _last[1] + 1
        else:
            number = secrets.randbits(31)  # room to count up without carrying into the time
        _last[:] = [ms, number]
    return f"{slot_id}.{ms:012x}{number:08x}"


def new_status_code() -> str:
    """A new booking's status code, the key of its public status link (contract, "Status links"): made once, with
    the booking, and kept for its life; `domain.STATUS_CODE_PATTERN` is what it looks like."""
    return secrets.token_urlsafe(STATUS_CODE_BYTES)
