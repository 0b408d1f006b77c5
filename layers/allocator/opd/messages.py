"""The SMS a patient is sent, in one place, keyed by event type: a hospital translates MESSAGES and nothing else.

Each template is filled with str.format from these fields: {doctor} (the doctor's name as the directory
records it, e.g. "Dr Asha Rao"; "Dr <id>" for a doctor it does not know: `unrecorded`), {date}
(YYYY-MM-DD) and {start} (HH:MM) of the slot, {token}, {time} (HH:MM, the estimated call time)
and {minutes} (a delay), times in the clinic's zone. A template that names a field the event does
not have is never used for it (see `texts`). Keep each under 160 plain characters (70 in scripts
other than Latin): longer texts are sent, and billed, as several SMS parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opd.domain import CancelReason, EventType

# By event type; a cancellation by its reason too (a patient is told only of those they did not ask for).
MESSAGES: dict[EventType | tuple[EventType, CancelReason], str] = {
    EventType.BOOKING_CREATED: (
        "OPD: booked with {doctor} on {date}, token {token}. Expect to be called about {time}."
    ),
    EventType.BOOKING_PROMOTED: (
        "OPD: a place came free. {doctor} on {date}, token {token}. Expect to be called about {time}."
    ),
    EventType.BOOKING_CALLED: "OPD: token {token}, please go in to {doctor} now.",
    (EventType.BOOKING_CANCELLED, CancelReason.DOCTOR_UNAVAILABLE): (
        "OPD: {doctor} is not available on {date}. Your {start} booking is cancelled; please book another slot."
    ),
    (EventType.BOOKING_CANCELLED, CancelReason.WAITLIST_EXPIRED): (
        "OPD: no place came free with {doctor} at {start} on {date}; your waitlist request has ended."
    ),
    EventType.BOOKING_RESCHEDULED: (
        "OPD: your {start} booking with {doctor} on {date} has moved; a message with the new one follows."
    ),
    EventType.SLOT_DELAY_CHANGED: (
        "OPD: {doctor} is running about {minutes} min late on {date}. Token {token} keeps its place."
    ),
}

# GSM 03.38's basic set: a text of these alone fits 160 to an SMS part; any other character makes it UCS-2 (70).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str


def parts(text: str) -> int:
    """SMS parts the text is sent (and billed) as: 160 GSM characters in one, 153 each when split; 70 / 67 in UCS-2."""
    single, each = (160, 153) if set(text) <= _GSM7 else (70, 67)
    return 1 if len(text) <= single else math.ceil(len(text) / each)


def _local(iso: str | None, zone: ZoneInfo) -> datetime | None:
    return None if iso is None else datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone)


def _fill(key: EventType | tuple[EventType, CancelReason], fields: dict[str, Any]) -> str | None:
    try:
        return MESSAGES[key].format(**fields)
    except KeyError:  # no such template, or one that names a field this event does not have
        return None


def _message_key(kind: EventType, booking: dict[str, Any]) -> EventType | tuple[EventType, CancelReason] | None:
    """The template of a booking's event, if it has one: a cancellation's is chosen by its reason."""
    if kind is not EventType.BOOKING_CANCELLED:
        return kind if kind in MESSAGES else None
    reason = booking.get("cancelReason")
    if not isinstance(reason, str) or reason not in CancelReason:
        return None
    key = (kind, CancelReason(reason))
    return key if key in MESSAGES else None


def unrecorded(doctor_id: str) -> str:
    """How an SMS names a doctor the directory does not know (or could not be read)."""
    return f"Dr {doctor_id}"


def texts(
    detail_type: str, detail: dict[str, Any], zone: ZoneInfo, doctor_name: Callable[[str], str] = unrecorded
) -> list[Sms]:
    """The SMS one event sends (contract, "Events and SMS"): none for most, one per phone at most.
    `doctor_name`: the doctor's name by id (the directory's, read by the notifier)."""
    if detail_type not in EventType:
        return []
    kind = EventType(detail_type)
    given_slot, given_booking = detail.get("slot"), detail.get("booking")
    slot: dict[str, Any] = given_slot if isinstance(given_slot, dict) else {}
    booking: dict[str, Any] | None = given_booking if isinstance(given_booking, dict) else None
    doctor_id = slot.get("doctorId")
    doctor = doctor_name(doctor_id) if isinstance(doctor_id, str) else None
    fields: dict[str, Any] = {"doctor": doctor, "minutes": slot.get("delayMinutes")}
    if (start := _local(slot.get("start"), zone)) is not None:
        fields |= {"date": start.strftime("%Y-%m-%d"), "start": start.strftime("%H:%M")}
    if kind is EventType.SLOT_DELAY_CHANGED:
        if not slot.get("delayed"):
            return []  # a delay cleared: nobody is told
        sent = [
            Sms(recipient["phone"], text)
            for recipient in detail.get("recipients", [])
            if recipient.get("phone") and (text := _fill(kind, fields | {"token": recipient.get("token")}))
        ]
        return _one_per_phone(sent)
    if booking is None or not booking.get("phone") or (key := _message_key(kind, booking)) is None:
        return []
    fields["token"] = booking.get("token")
    if (eta := _local(booking.get("estimatedCallAt"), zone)) is not None:
        fields["time"] = eta.strftime("%H:%M")
    text = _fill(key, {name: value for name, value in fields.items() if value is not None})
    return [Sms(booking["phone"], text)] if text else []


def _one_per_phone(messages: list[Sms]) -> list[Sms]:
    seen: set[str] = set()
    kept = []
    for message in messages:
        if message.phone not in seen:
            seen.add(message.phone)
            kept.append(message)
    return kept
