"""The SMS a patient is sent, in one place, keyed by event type: a hospital translates MESSAGES and nothing else.

Each template is filled with str.format from these fields: {doctor} (the doctor's name as the directory
records it, e.g. "Dr Asha Rao"; "Dr <id>" for a doctor it does not know: `unrecorded`), {date}
(YYYY-MM-DD) and {start} (HH:MM) of the slot, {token}, {time} (HH:MM, the estimated call time)
and {minutes} (a delay), times in the clinic's zone. A template that names a field the event does
not have is never used for it (see `texts`). Every text about a booking then ends with a space and the
booking's status link, `<PUBLIC_URL>/status.html#<statusCode>` (`with_status_link`, the one place it is
added, whatever the language), ~67 characters with a CloudFront URL. An SMS part holds 160 GSM-7 characters
(70 in UCS-2, which any character outside GSM 03.38 makes it: Devanagari, Tamil); longer texts are sent, and
billed, as several parts (`size`; benchmarks/sms_cost.py prints each kind's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opd.domain import STATUS_CODE_PATTERN, CancelReason, EventType

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

STATUS_PAGE = "/status.html#"  # a booking's status link: <PUBLIC_URL>/status.html#<statusCode>

# GSM 03.38's basic set: a text of these alone fits 160 to an SMS part; any other character makes it UCS-2 (70).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table: GSM-7 still, each sent as an escape and the character, so it counts 2.
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7, UCS2 = "GSM-7", "UCS-2"


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str


@dataclass(frozen=True)
class SmsSize:
    """How a text goes as SMS: its encoding, its length in that encoding's units, and the parts it is billed as."""

    encoding: str  # GSM7 or UCS2
    units: int  # GSM-7 septets (an extension character takes 2), or UCS-2 code units (2 for a character beyond U+FFFF)
    parts: int


def size(text: str) -> SmsSize:
    """GSM-7 where every character is in GSM 03.38 (basic set or extension table), else UCS-2. One part holds 160
    septets (70 code units); a longer text is split into parts of 153 (67) each, the 7 (3) left over being the
    header that joins them, and a character sent as two units (an extension character, a surrogate pair) is never
    split across two parts."""
    if set(text) <= _GSM7 | _GSM7_EXTENSION:
        encoding, single, each = GSM7, 160, 153
        units = [2 if character in _GSM7_EXTENSION else 1 for character in text]
    else:
        encoding, single, each = UCS2, 70, 67
        units = [2 if ord(character) > 0xFFFF else 1 for character in text]
    total = sum(units)
    if total <= single:
        return SmsSize(encoding, total, 1)
    count, room = 1, each
    for unit in units:
        if unit > room:
            count, room = count + 1, each
        room -= unit
    return SmsSize(encoding, total, count)


def parts(text: str) -> int:
    """SMS parts the text is sent (and billed) as (see `size`)."""
    return size(text).parts


def status_link(public_url: str, code: str) -> str:
    return f"{public_url}{STATUS_PAGE}{code}"


def with_status_link(text: str, code: Any, public_url: str | None) -> str:
    """The text, then a space and the booking's status link (contract, "Events and SMS"): the one place it is added.
    As it is where there is no link to give: no PUBLIC_URL, or a booking made before status links."""
    if not public_url or not isinstance(code, str) or not STATUS_CODE_PATTERN.fullmatch(code):
        return text
    return f"{text} {status_link(public_url, code)}"


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
    detail_type: str,
    detail: dict[str, Any],
    zone: ZoneInfo,
    doctor_name: Callable[[str], str] = unrecorded,
    public_url: str | None = None,
) -> list[Sms]:
    """The SMS one event sends (contract, "Events and SMS"): none for most, one per phone at most, each ending with
    its booking's status link under `public_url` (PUBLIC_URL). `doctor_name`: the doctor's name by id (the
    directory's, read by the notifier)."""
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
            Sms(recipient["phone"], with_status_link(text, recipient.get("statusCode"), public_url))
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
    return [Sms(booking["phone"], with_status_link(text, booking.get("statusCode"), public_url))] if text else []


def _one_per_phone(messages: list[Sms]) -> list[Sms]:
    seen: set[str] = set()
    kept = []
    for message in messages:
        if message.phone not in seen:
            seen.add(message.phone)
            kept.append(message)
    return kept


# A sign-in code's SMS (contract, "Sign-in by phone"), in each of the contract's languages, with {code} and
# {minutes} (its life). One SMS part each: the Hindi and Tamil texts are UCS-2, so kept under 70 characters.
SIGN_IN_CODE: dict[str, str] = {
    "en": "OPD: your sign-in code is {code}. It expires in {minutes} minutes. Do not share it.",
    "hi": "OPD: साइन-इन कोड {code} है। {minutes} मिनट तक मान्य। किसी को न बताएं।",
    "ta": "OPD: உள்நுழைவு குறியீடு {code}. {minutes} நிமிடம் செல்லும். பகிர வேண்டாம்.",
}


def sign_in_text(code: str, minutes: int, language: str) -> str:
    """The SMS that carries a sign-in code, in `language` (English for a language it has no text in)."""
    return SIGN_IN_CODE.get(language, SIGN_IN_CODE["en"]).format(code=code, minutes=minutes)
