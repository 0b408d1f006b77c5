"""An outbox event as EventBridge carries it: source `opd`, its detail-type, and the contract's detail.

The outbox keeps events compact (`opd.domain.Event`: ids, version, time, a snapshot of what
changes), and the detail is rendered from them and the slot when they are published, by the
request right after its write or by the relay later. The booking in a detail is the booking as
the event left it, whatever happened to it since: its history up to that event says its state,
and the snapshot its standing. Pure code: no clock, no I/O.

    {"eventId", "occurredAt", "slotId", "slotVersion", "booking"?: Booking, "slot": Slot}

Every event carries the slot as the change left it (its counts, delay and leave), a booking event
the booking too.

A delay set also names who it concerns (`recipients`: bookingId, token, phone of every BOOKED or
CHECKED_IN booking with a phone, as the change left them), so the SMS notifier needs no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from opd.domain import (
    HOLDS_PLACE,
    Booking,
    BookingSnapshot,
    Event,
    Slot,
    SlotSnapshot,
    Standing,
    Status,
    tier_limits,
)

SOURCE = "opd"
MAX_ENTRIES_PER_PUT = 10  # PutEvents takes at most 10 entries a request


@dataclass(frozen=True)
class Entry:
    """One PutEvents entry, before the adapter names the bus."""

    event_id: str
    detail_type: str
    detail: str  # JSON
    time: datetime


def iso_utc(value: datetime) -> str:
    """UTC, `Z`, at most milliseconds: as the API answers times."""
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="seconds" if utc.microsecond == 0 else "milliseconds").replace("+00:00", "Z")


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def booking_as_it_was(booking: Booking, snapshot: BookingSnapshot) -> Booking:
    """`booking` (as it is now) as the event left it: its history up to the event says the rest."""
    lines = booking.history[: snapshot.history_length]
    if not lines:  # a booking stored without history (none are): as it is
        return booking
    status = lines[-1].status
    calls = [line.at for line in lines if line.status is Status.CALLED]
    return replace(
        booking,
        status=status,
        updated_at=lines[-1].at,
        history=lines,
        token=booking.token if any(line.status in HOLDS_PLACE for line in lines) else None,
        called_at=calls[-1] if calls else None,
        completed_at=next((line.at for line in lines if line.status is Status.COMPLETED), None),
        skips=sum(
            1
            for a, b in pairwise(lines)
            if a.status is Status.CALLED and b.status in (Status.CHECKED_IN, Status.NO_SHOW)
        ),
        cancel_reason=booking.cancel_reason if status is Status.CANCELLED else None,
        rescheduled_to=booking.rescheduled_to if status is Status.CANCELLED else None,
        standing=(Standing(snapshot.position, snapshot.estimated_call_at) if snapshot.position is not None else None),
        waitlist_position=snapshot.waitlist_position,
    )


def booking_json(booking: Booking) -> dict[str, Any]:
    """The contract's Booking, every field present, null where it does not apply."""
    standing = booking.standing
    return {
        "bookingId": booking.booking_id,
        "slotId": booking.slot_id,
        "doctorId": booking.doctor_id,
        "patientId": booking.patient_id,
        "source": booking.source.value,
        "tier": booking.tier.value,
        "token": booking.token,
        "status": booking.status.value,
        "createdAt": iso_utc(booking.created_at),
        "updatedAt": iso_utc(booking.updated_at),
        "position": standing.position if standing else None,
        "estimatedCallAt": _iso_or_none(standing.estimated_call_at) if standing else None,
        "waitlistPosition": booking.waitlist_position,
        "calledAt": _iso_or_none(booking.called_at),
        "completedAt": _iso_or_none(booking.completed_at),
        "skips": booking.skips,
        "cancelReason": booking.cancel_reason.value if booking.cancel_reason else None,
        "rescheduledFrom": booking.rescheduled_from,
        "rescheduledTo": booking.rescheduled_to,
        "phone": booking.phone,
        "history": [{"status": c.status.value, "at": iso_utc(c.at), "by": c.by} for c in booking.history],
    }


def slot_json(slot: Slot, snapshot: SlotSnapshot, delay_reduction_percent: int) -> dict[str, Any]:
    """The contract's Slot as the event left it: capacity and times never change, the snapshot has the rest."""
    limits = tier_limits(slot.capacity, snapshot.delayed, delay_reduction_percent)
    return {
        "slotId": slot.slot_id,
        "doctorId": slot.doctor_id,
        "start": iso_utc(slot.start),
        "end": iso_utc(slot.end),
        "capacity": {
            "base": slot.capacity.base,
            "premiumBuffer": slot.capacity.premium_buffer,
            "emergencyBuffer": slot.capacity.emergency_buffer,
        },
        "delayed": snapshot.delayed,
        "delayMinutes": snapshot.delay_minutes,
        "closed": snapshot.closed,
        "limits": {tier.value: limit for tier, limit in limits.items()},
        "booked": snapshot.booked,
        "available": {tier.value: max(0, limit - snapshot.booked) for tier, limit in limits.items()},
        "waitlisted": snapshot.waitlisted,
    }


def detail(slot: Slot, event: Event, delay_reduction_percent: int) -> dict[str, Any]:
    """The event's detail, from the slot as it is now (any later version) and the event's snapshot."""
    body: dict[str, Any] = {
        "eventId": event.event_id,
        "occurredAt": iso_utc(event.occurred_at),
        "slotId": event.slot_id,
        "slotVersion": event.slot_version,
    }
    if event.booking_id is not None and event.booking is not None:
        booking = slot.booking(event.booking_id)
        if booking is not None:
            body["booking"] = booking_json(booking_as_it_was(booking, event.booking))
    body["slot"] = slot_json(slot, event.slot, delay_reduction_percent)
    if event.slot.recipients:
        body["recipients"] = [
            {"bookingId": b.booking_id, "token": b.token, "phone": b.phone}
            for b in (slot.booking(booking_id) for booking_id in event.slot.recipients)
            if b is not None
        ]
    return body


def entry(slot: Slot, event: Event, delay_reduction_percent: int) -> Entry:
    return Entry(
        event_id=event.event_id,
        detail_type=event.detail_type.value,
        detail=json.dumps(detail(slot, event, delay_reduction_percent), separators=(",", ":")),
        time=event.occurred_at,
    )


def entries(slot: Slot, outbox: tuple[Event, ...] | list[Event], delay_reduction_percent: int) -> list[Entry]:
    return [entry(slot, event, delay_reduction_percent) for event in outbox]
