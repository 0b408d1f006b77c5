"""The clock and the ids the service makes up: a slot's, and a booking's (which names its slot)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, to the millisecond: BSON keeps milliseconds, so what we answer equals what we store."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_slot_id() -> str:
    return f"slot-{secrets.token_hex(12)}"


def new_booking_id(slot_id: str) -> str:
    return f"{slot_id}.{secrets.token_hex(8)}"
