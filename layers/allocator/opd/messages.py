"""The SMS a patient is sent: which message each event sends, filled in the booking's language.

The texts are in the catalogs (`opd.catalogs`: a PO file per language), by key: MESSAGES names the key of each
event type (a cancellation's by its reason too), SIGN_IN_CODE the sign-in code's. A hospital rewords or translates
the catalogs and nothing else. Each text is filled with str.format from these fields: {doctor} (the doctor's name
as the directory records it, e.g. "Dr Asha Rao"; "Dr <id>" for a doctor it does not know: `unrecorded`), {date}
(DD/MM, as India reads a date: "21/11") and {start} (HH:MM) of the slot, {token}, {time} (HH:MM, the estimated
call time) and {minutes} (a delay), times in the clinic's zone, digits 0-9 in every language. A text that names a
field the event does not have is never used for it (see `texts`). Every text about a booking then ends with a
space and the booking's status link, `<PUBLIC_URL>/status.html#<statusCode>` (`with_status_link`, the one place
it is added, whatever the language), ~67 characters with a CloudFront URL. An SMS part holds 160 GSM-7 characters
(70 in UCS-2, which any character outside GSM 03.38 makes it: Devanagari, Tamil); longer texts are sent, and
billed, as several parts (`size`; benchmarks/sms_cost.py prints each kind's in each language).

The language: the booking's `language` (its event carries it, and each of a delay's recipients theirs), else
`default_language` (DEFAULT_LANGUAGE: a booking made before bookings had one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opd import catalogs
from opd.domain import STATUS_CODE_PATTERN, CancelReason, EventType, Language

# The catalogs' key of each event's message; a cancellation's by its reason too (a patient is told only of those
# they did not ask for).
MESSAGES: dict[EventType | tuple[EventType, CancelReason], str] = {
    EventType.BOOKING_CREATED: "BookingCreated",
    EventType.BOOKING_PROMOTED: "BookingPromoted",
    EventType.BOOKING_CALLED: "BookingCalled",
    (EventType.BOOKING_CANCELLED, CancelReason.DOCTOR_UNAVAILABLE): "BookingCancelled.DOCTOR_UNAVAILABLE",
    (EventType.BOOKING_CANCELLED, CancelReason.WAITLIST_EXPIRED): "BookingCancelled.WAITLIST_EXPIRED",
    EventType.BOOKING_RESCHEDULED: "BookingRescheduled",
    EventType.SLOT_DELAY_CHANGED: "SlotDelayChanged",
}
# A sign-in code's SMS (contract, "Sign-in by phone"), with {code} and {minutes} (its life); no status link. One
# SMS part in every language: the Hindi and Tamil texts are UCS-2, so kept under 70 characters.
SIGN_IN_CODE = "SignInCode"
DATE_FORMAT, TIME_FORMAT = "%d/%m", "%H:%M"  # 21/11, 09:36: digits 0-9 whatever the language

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


def language_of(value: Any, default: Language) -> Language:
    """The language an SMS is written in: `value` (a booking's or a recipient's `language`) where it is one of
    ours, else `default` (a booking made before bookings had one)."""
    return Language(value) if isinstance(value, str) and value in Language else default


def _fill(key: EventType | tuple[EventType, CancelReason], fields: dict[str, Any], language: Language) -> str | None:
    known = {name: value for name, value in fields.items() if value is not None}
    try:
        return catalogs.template(MESSAGES[key], language).format(**known)
    except KeyError:  # no such message, or one that names a field this event does not have
        return None


def _message_key(kind: EventType, booking: dict[str, Any]) -> EventType | tuple[EventType, CancelReason] | None:
    """The message of a booking's event, if it has one: a cancellation's is chosen by its reason."""
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
    default_language: Language = Language.EN,
) -> list[Sms]:
    """The SMS one event sends (contract, "Events and SMS"): none for most, one per phone at most, each in its
    booking's language (else `default_language`, DEFAULT_LANGUAGE) and ending with its booking's status link under
    `public_url` (PUBLIC_URL). `doctor_name`: the doctor's name by id (the directory's, read by the notifier)."""
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
        fields |= {"date": start.strftime(DATE_FORMAT), "start": start.strftime(TIME_FORMAT)}
    if kind is EventType.SLOT_DELAY_CHANGED:
        if not slot.get("delayed"):
            return []  # a delay cleared: nobody is told
        sent = []
        for recipient in detail.get("recipients", []):
            language = language_of(recipient.get("language"), default_language)  # each in their booking's
            text = _fill(kind, fields | {"token": recipient.get("token")}, language)
            if recipient.get("phone") and text:
                sent.append(Sms(recipient["phone"], with_status_link(text, recipient.get("statusCode"), public_url)))
        return _one_per_phone(sent)
    if booking is None or not booking.get("phone") or (key := _message_key(kind, booking)) is None:
        return []
    fields["token"] = booking.get("token")
    if (eta := _local(booking.get("estimatedCallAt"), zone)) is not None:
        fields["time"] = eta.strftime(TIME_FORMAT)
    text = _fill(key, fields, language_of(booking.get("language"), default_language))
    return [Sms(booking["phone"], with_status_link(text, booking.get("statusCode"), public_url))] if text else []


def _one_per_phone(messages: list[Sms]) -> list[Sms]:
    seen: set[str] = set()
    kept = []
    for message in messages:
        if message.phone not in seen:
            seen.add(message.phone)
            kept.append(message)
    return kept


def sign_in_text(code: str, minutes: int, language: str) -> str:
    """The SMS that carries a sign-in code, in `language` (a code; English for one that is not ours)."""
    return catalogs.template(SIGN_IN_CODE, language_of(language, Language.EN)).format(code=code, minutes=minutes)
