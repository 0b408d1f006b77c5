"""An outbox event as EventBridge carries it: source `opd`, its detail-type, and the contract's detail.

The outbox keeps events compact (`opd.domain.Event`: ids, version, time, a snapshot of what
changes), and the detail is rendered from them and the slot when they are published, by the
request right after its write or by the relay later, in the contract's shapes (`opd.contract`).
The booking in a detail is the booking as the event left it, whatever happened to it since: its
history up to that event says its state, and the snapshot its standing. Pure code: no clock, no I/O.

    {"eventId", "occurredAt", "slotId", "slotVersion", "booking"?: Booking, "slot": Slot}

Every event carries the slot as the change left it (its counts, delay and leave), a booking event
the booking too.

A delay set also names who it concerns (`recipients`: bookingId, token, phone, statusCode and language of every
BOOKED or CHECKED_IN booking with a phone, as the change left them), so the SMS notifier needs no database and
writes to each in their booking's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opd.contract import BookingOut, SlotOut, iso_utc
from opd.domain import Event, Slot, SlotSnapshot, booking_as_it_was

SOURCE = "opd"
MAX_ENTRIES_PER_PUT = 10  # PutEvents takes at most 10 entries a request


@dataclass(frozen=True)
class Entry:
    """One PutEvents entry, before the adapter names the bus."""

    event_id: str
    detail_type: str
    detail: str  # JSON
    time: datetime


def detail(
    slot: Slot, event: Event, delay_reduction_percent: int, slots_as_left: dict[SlotSnapshot, Any] | None = None
) -> dict[str, Any]:
    """The event's detail, from the slot as it is now (any later version) and the event's snapshot.

    `slots_as_left`: the Slot as each snapshot shows it, kept across the events of one slot, so that a
    change's events (a leave's 26, say, which all leave the slot alike) render it once, not each."""
    body: dict[str, Any] = {
        "eventId": event.event_id,
        "occurredAt": iso_utc(event.occurred_at),
        "slotId": event.slot_id,
        "slotVersion": event.slot_version,
    }
    if event.booking_id is not None and event.booking is not None:
        booking = slot.booking(event.booking_id)
        if booking is not None:
            body["booking"] = BookingOut.of(booking_as_it_was(booking, event.booking)).as_json()
    rendered = None if slots_as_left is None else slots_as_left.get(event.slot)
    if rendered is None:
        rendered = SlotOut.of(slot, delay_reduction_percent, as_left=event.slot).as_json()
        if slots_as_left is not None:
            slots_as_left[event.slot] = rendered
    body["slot"] = rendered
    if event.slot.recipients:
        body["recipients"] = [
            {
                "bookingId": b.booking_id,
                "token": b.token,
                "phone": b.phone,
                "statusCode": b.status_code,
                "language": None if b.language is None else b.language.value,
            }
            for b in (slot.booking(booking_id) for booking_id in event.slot.recipients)
            if b is not None
        ]
    return body


def entry(
    slot: Slot, event: Event, delay_reduction_percent: int, slots_as_left: dict[SlotSnapshot, Any] | None = None
) -> Entry:
    return Entry(
        event_id=event.event_id,
        detail_type=event.detail_type.value,
        detail=json.dumps(detail(slot, event, delay_reduction_percent, slots_as_left), separators=(",", ":")),
        time=event.occurred_at,
    )


def entries(slot: Slot, outbox: tuple[Event, ...] | list[Event], delay_reduction_percent: int) -> list[Entry]:
    slots_as_left: dict[SlotSnapshot, Any] = {}
    return [entry(slot, event, delay_reduction_percent, slots_as_left) for event in outbox]
