"""The SMS notifier: an event from the bus in, at most one SMS to each phone it concerns out.

EventBridge delivers at least once, and the relay may publish an event twice; a patient must still
get one SMS. Before sending, one Redis script claims `sms:sent:<eventId>:<phone>` (SET NX with a
TTL longer than any redelivery) and, in the same round trip, the message's parts against the
month's spend cap (`sms:parts:<YYYY-MM>`). A claim that exists is a duplicate: nothing is sent.
A send that fails gives the claim and the parts back and the event fails, so Lambda's retries
(then the dead-letter queue) try again; the phones already sent to are skipped as duplicates.
A process that dies between its claim and its send loses that SMS: at most once, as promised.

The cap: SMS_MONTHLY_SPEND_LIMIT_USD / SMS_PRICE_USD parts a calendar month (UTC). Beyond it an SMS
is not sent, and its claim is kept (a retry must not send it late).
Sign-in codes (`opd.service.signin`, sent by the Create auth challenge trigger) count against the same
month's parts, with no claim (`spend`: each code is sent once, by one trigger invocation), and only within
SIGN_IN_SMS_SHARE_PERCENT of the cap, so codes asked for in bulk never leave the bookings' SMS without any.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, cast

import redis

from opd.errors import DependencyUnavailable
from opd.messages import Sms, parts, texts, unrecorded
from opd.redisconn import redis_errors
from opd.settings import Settings

log = logging.getLogger(__name__)

CLAIM_TTL_S = 7 * 86_400  # EventBridge retries for 24 hours at most, Lambda's async retries for 6
MONTH_TTL_S = 40 * 86_400  # a month's counter outlives its month

# KEYS[1] the (event, phone) claim, KEYS[2] the month's parts. ARGV: parts, the month's cap in
# parts, the claim's ttl_s, the counter's ttl_s. 'duplicate' | 'capped' | 'claimed'.
CLAIM = """
if redis.call('exists', KEYS[1]) == 1 then
  return 'duplicate'
end
local spent = tonumber(redis.call('get', KEYS[2]) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  redis.call('set', KEYS[1], 'capped', 'EX', ARGV[3])
  return 'capped'
end
redis.call('set', KEYS[1], 'sending', 'EX', ARGV[3])
redis.call('incrby', KEYS[2], ARGV[1])
redis.call('expire', KEYS[2], ARGV[4])
return 'claimed'
"""

# A send failed: forget the claim and give the parts back, so a retry may send.
UNCLAIM = """
redis.call('del', KEYS[1])
redis.call('decrby', KEYS[2], ARGV[1])
return 1
"""


# KEYS[1] the month's parts. ARGV: parts, the cap in parts for this kind of SMS, the counter's ttl_s. 1: spent.
SPEND = """
local spent = tonumber(redis.call('get', KEYS[1]) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('incrby', KEYS[1], ARGV[1])
redis.call('expire', KEYS[1], ARGV[3])
return 1
"""


def spent_percent(spent_parts: int, settings: Settings) -> float:
    """The month's spend as a share of its cap, in percent (the SmsSpendPercent metric): 100 with a cap of 0."""
    cap = cap_parts(settings)
    return 100.0 if cap <= 0 else round(100 * spent_parts / cap, 1)


def cap_parts(settings: Settings, share_percent: int = 100) -> int:
    """SMS parts the month's spend limit pays for (of which `share_percent`: sign-in codes may use only a share)."""
    whole = int(settings.sms_monthly_spend_limit_usd / settings.sms_price_usd + 1e-9)
    return whole * share_percent // 100


class SmsBudget(Protocol):
    """The month's SMS parts, for an SMS that is not an event's (a sign-in code): no claim, only the spend."""

    def spend(self, parts: int, cap_parts: int, month: str) -> bool:
        """Count `parts` against the month if it stays within `cap_parts`; False (nothing counted) if not."""

    def give_back(self, parts: int, month: str) -> None:
        """The send failed: the parts were not spent."""


class SmsLedger(Protocol):
    """Which (event, phone) pairs were claimed, and what the month has spent."""

    def claim(self, event_id: str, phone: str, parts: int, cap_parts: int, month: str) -> str:
        """'claimed' (send it), 'duplicate' (sent, or being sent, already) or 'capped' (over the month's cap)."""

    def unclaim(self, event_id: str, phone: str, parts: int, month: str) -> None:
        """The send failed: a retry may claim it again."""


class RedisSmsLedger:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def keys(event_id: str, phone: str, month: str) -> list[str]:
        return [f"sms:sent:{event_id}:{phone}", f"sms:parts:{month}"]

    def claim(self, event_id: str, phone: str, parts: int, cap_parts: int, month: str) -> str:
        with redis_errors():
            reply = self.client.eval(
                CLAIM, 2, *self.keys(event_id, phone, month), parts, cap_parts, CLAIM_TTL_S, MONTH_TTL_S
            )
        return cast(bytes, reply).decode()

    def unclaim(self, event_id: str, phone: str, parts: int, month: str) -> None:
        with redis_errors():
            self.client.eval(UNCLAIM, 2, *self.keys(event_id, phone, month), parts)

    def spend(self, parts: int, cap_parts: int, month: str) -> bool:
        with redis_errors():
            return bool(self.client.eval(SPEND, 1, f"sms:parts:{month}", parts, cap_parts, MONTH_TTL_S))

    def give_back(self, parts: int, month: str) -> None:
        with redis_errors():
            self.client.decrby(f"sms:parts:{month}", parts)

    def spent(self, month: str) -> int:
        """The parts the month has spent so far (sign-in codes' too)."""
        with redis_errors():
            return int(cast(bytes | None, self.client.get(f"sms:parts:{month}")) or 0)


class SmsNotSent(RuntimeError):
    """Some SMS of the event could not be sent: the event fails and is delivered again. Says what did happen."""

    def __init__(self, message: str, failed: int, done: Notified) -> None:
        super().__init__(message)
        self.failed = failed  # SMS whose send failed (their claims given back)
        self.done = done  # the others: sent, duplicates, capped


@dataclass(frozen=True)
class Notified:
    sent: int
    duplicates: int
    capped: int


def sns_sender(client: Any) -> Callable[[str, str], None]:
    """Amazon SNS's direct SMS, marked transactional (delivered ahead of promotional traffic)."""

    def send(phone: str, text: str) -> None:
        client.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )

    return send


class SmsNotifier:
    def __init__(
        self,
        ledger: SmsLedger,
        send: Callable[[str, str], None],
        settings: Settings,
        clock: Callable[[], datetime],
        doctor_name: Callable[[str], str] = unrecorded,
        count_day: Callable[[str, date, int], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.send = send
        self.settings = settings
        self.clock = clock
        self.doctor_name = doctor_name  # the directory's name of a doctor, by id (`opd.doctors.DoctorNames`)
        # Counts the SMS sent about a doctor's clinic day, for the daily reports (`opd.dayreports.DaySmsCounter`).
        self.count_day = count_day

    @property
    def cap_parts(self) -> int:
        """SMS parts the month's spend limit pays for."""
        return cap_parts(self.settings)

    def notify(self, event: dict[str, Any]) -> Notified:
        """Send what the EventBridge event `event` calls for; raises SmsNotSent if a send failed (after trying all)."""
        detail = event.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("eventId"), str):
            raise ValueError("not an OPD event: its detail has no eventId")
        kind, settings = str(event.get("detail-type")), self.settings
        messages = texts(
            kind, detail, settings.clinic_zone, self.doctor_name, settings.public_url, settings.default_language
        )
        month = self.clock().strftime("%Y-%m")
        sent = duplicates = capped = 0
        failed: list[str] = []
        for message in messages:
            outcome = self._send_once(detail["eventId"], message, month)
            if outcome == "sent":
                sent += 1
            elif outcome == "duplicate":
                duplicates += 1
            elif outcome == "capped":
                capped += 1
            else:
                failed.append(outcome)
        if sent:
            self._count(detail, sent)
        if failed:
            why = f"{len(failed)} of {len(messages)} SMS not sent: {'; '.join(failed)}"
            raise SmsNotSent(why, len(failed), Notified(sent, duplicates, capped))
        return Notified(sent, duplicates, capped)

    def _count(self, detail: dict[str, Any], sent: int) -> None:
        """Add the SMS sent to the day of the event's slot (its doctor, its start's clinic date). A statistic: if it
        cannot be written the SMS still went, and the event must not fail and be sent again for it."""
        slot = detail.get("slot")
        if self.count_day is None or not isinstance(slot, dict) or not isinstance(slot.get("doctorId"), str):
            return
        try:
            day = datetime.fromisoformat(str(slot.get("start"))).astimezone(self.settings.clinic_zone).date()
            self.count_day(slot["doctorId"], day, sent)
        except (ValueError, DependencyUnavailable) as exc:
            log.warning("SMS sent but not counted for the day's report (event %s): %s", detail.get("eventId"), exc)

    def _send_once(self, event_id: str, message: Sms, month: str) -> str:
        size = parts(message.text)
        claimed = self.ledger.claim(event_id, message.phone, size, self.cap_parts, month)
        if claimed == "duplicate":
            return "duplicate"
        if claimed == "capped":
            log.warning("SMS not sent: the month's spend limit is reached (event %s)", event_id)
            return "capped"
        try:
            self.send(message.phone, message.text)
        except Exception as exc:  # the SNS client's errors: give the claim back, fail the event, be retried
            self.ledger.unclaim(event_id, message.phone, size, month)
            return f"{type(exc).__name__}: {exc}"
        return "sent"
