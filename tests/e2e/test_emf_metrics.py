"""The functions' metrics through the whole local stack (issue 24): a small clinic day (bookings with phones, a
waitlist, a refusal, a sign-in by phone with a wrong code and one code too many, a desk token and a Scan & Share, a
sweep, the relay, the SMS) and then `GET /_local/metrics`, the sums of the EMF lines every Lambda environment printed.

Every metric of the service's namespace that an alarm or a dashboard widget of template.yaml uses is among them, its
sums equal what the day did, and no EMF line carries a patient's name, phone, ABHA address or sign-in code, nor a
dimension other than the kinds the service splits its metrics by.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from devserver.runner import LocalStack
from opd.api.errors import CODES
from tests.e2e import support
from tests.e2e.support import Api
from tests.support.monitoring import service_metrics
from tests.support.signin import code_in

pytestmark = [pytest.mark.xdist_group("e2e-metrics"), pytest.mark.slow]

NAME, ABHA = "Lakshmi Venkataraman", "lakshmi.v@sbx"
# The kinds metrics are split by: never anything of a patient (opd.api.observability.count).
DIMENSIONS = {"service", "tier", "code", "source", "token", "function_name"}


def eventually[T](read: Callable[[], T], done: Callable[[T], bool]) -> T:
    return support.eventually(read, done, within_s=45.0)  # this module's bound


def phone() -> str:
    return f"+9197{secrets.randbelow(10**8):08d}"


def metrics(api: Api) -> dict[str, Any]:
    answer = api.call("GET", "/_local/metrics")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["metrics"]
    return found


def total(found: dict[str, Any], name: str) -> float:
    return float(found.get(name, {}).get("sum", 0))


def sms(api: Api) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = api.call("GET", "/_local/sms").json()["messages"]
    return messages


def ok(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_clinic_days_metrics_are_emitted_counted_and_carry_no_patient(api: Api, stack: LocalStack) -> None:
    secrets_of_the_day: list[str] = [NAME, *NAME.split(), ABHA, ABHA.split("@", maxsplit=1)[0]]
    before = metrics(api)

    # The desk registers a patient and books them and two walk-ins with phones into a slot of two places; a third asks
    # for the waitlist, a fourth is refused.
    slot = api.new_slot(starts_in=timedelta(minutes=10), baseCapacity=2, premiumBuffer=0, emergencyBuffer=0)
    phones = [phone() for _ in range(4)]
    secrets_of_the_day += [p for number in phones for p in (number, number.removeprefix("+"), number[3:])]
    patient = ok(
        api.as_role("reception", "POST", "/patients", {"name": NAME, "phone": phones[0], "abhaAddress": ABHA}), 201
    )
    booking = {"slotId": slot["slotId"], "source": "WALKIN"}
    ok(
        api.as_role(
            "reception", "POST", "/bookings", booking | {"patientId": patient["patientId"], "phone": phones[0]}
        ),
        201,
    )
    ok(api.as_role("reception", "POST", "/bookings", booking | {"patientId": "p-second", "phone": phones[1]}), 201)
    waiting = booking | {"patientId": "p-third", "phone": phones[2], "waitlist": True}
    assert ok(api.as_role("reception", "POST", "/bookings", waiting), 201)["status"] == "WAITLISTED"
    full = api.as_role("reception", "POST", "/bookings", booking | {"patientId": "p-fourth"})
    assert full.status_code == 409 and full.json()["error"]["code"] == "SLOT_FULL", full.text

    # A patient signs in by phone: a code, a wrong answer, two more codes, a fourth refused, the right answer.
    signing = phones[3]
    ask = {"phone": signing}
    ok(api.call("POST", "/auth/otp", body=ask), 202)
    codes = eventually(lambda: [m for m in sms(api) if m["phone"] == signing], lambda found: len(found) == 1)
    code = code_in(codes[0]["text"])
    wrong = api.call("POST", "/auth/otp/verify", body=ask | {"code": f"{(int(code) + 1) % 10**6:06d}"})
    assert wrong.status_code == 401, wrong.text
    ok(api.call("POST", "/auth/otp", body=ask), 202)
    ok(api.call("POST", "/auth/otp", body=ask), 202)
    assert api.call("POST", "/auth/otp", body=ask).status_code == 429
    codes = eventually(lambda: [m for m in sms(api) if m["phone"] == signing], lambda found: len(found) == 3)
    secrets_of_the_day += [code_in(message["text"]) for message in codes]
    ok(api.call("POST", "/auth/otp/verify", body=ask | {"code": code_in(codes[-1]["text"])}), 200)

    # The registration counter: a token at the desk, one by ABDM Scan & Share, whose callback reaches the gateway.
    counter = f"reg-{uuid.uuid4().hex[:8]}"
    ok(api.as_role("reception", "POST", f"/counters/{counter}/tokens"), 201)
    shared = {"counterId": counter, "abhaAddress": "ravi.k@sbx", "name": "Ravi Kumar", "phone": "9876543210"}
    secrets_of_the_day += ["ravi.k@sbx", "Ravi Kumar", "9876543210"]
    request_id = ok(api.call("POST", "/_local/abdm/share", body=shared), 200)["requestId"]
    arrived = eventually(lambda: api.call("GET", f"/_local/abdm/on-share?requestId={request_id}"), lambda a: a.ok)
    assert arrived.status_code == 200, arrived.text

    # The sweeper, as it would run 20 minutes after the slot's start; then the relay.
    start = datetime.fromisoformat(slot["start"].replace("Z", "+00:00"))
    marked = ok(api.call("POST", "/_local/sweep", body={"now": (start + timedelta(minutes=20)).isoformat()}), 200)
    assert marked["marked"] == 2
    ok(api.call("POST", "/_local/relay"), 200)

    # Two booked (told), one waitlisted (not told), two no-shows (not told), the waitlist ended (told): 3 SMS.
    event_sms = eventually(lambda: [m for m in sms(api) if m["eventId"] is not None], lambda found: len(found) >= 3)
    assert len(event_sms) == 3, [m["eventId"] for m in event_sms]

    def emitted() -> dict[str, Any]:
        found = metrics(api)
        return {
            name: {**entry, "sum": entry["sum"] - before.get(name, {}).get("sum", 0)} for name, entry in found.items()
        }

    day = eventually(emitted, lambda found: total(found, "SmsSent") >= 3)
    missing = sorted(service_metrics() - set(day))
    assert missing == [], f"used by template.yaml's alarms or dashboard, never emitted: {missing}"
    assert (total(day, "Bookings"), total(day, "Waitlisted")) == (2, 1)
    assert day["Bookings"]["by"]["tier"] == {"STANDARD": 2}
    rejections = day["Rejections"]["by"]["code"]
    assert {code: rejections.get(code) for code in ("SLOT_FULL", "INVALID_CODE", "TOO_MANY_CODES")} == {
        "SLOT_FULL": 1,
        "INVALID_CODE": 1,
        "TOO_MANY_CODES": 1,
    }
    assert total(day, "TooManyRequests") == 1
    assert total(day, "OtpCodesSent") == 3
    assert day["OtpCodesRefused"]["by"]["code"] == {"INVALID_CODE": 1, "TOO_MANY_CODES": 1}
    assert day["CounterTokens"]["by"]["source"] == {"DESK": 1, "ABDM": 1}
    assert (total(day, "ScanAndShares"), total(day, "OnSharesSent"), total(day, "OnSharesFailed")) == (1, 1, 0)
    assert (total(day, "SweeperHeartbeat"), total(day, "NoShowsMarked")) == (1, 2)
    assert (total(day, "SmsSent"), total(day, "SmsFailed"), total(day, "SmsCapped")) == (3, 0, 0)
    assert day["SmsSpendPercent"]["sum"] > 0  # the month's SMS parts of the cap: this day's, and earlier tests'
    on_bus = api.call("GET", f"/_local/events?slotId={slot['slotId']}").json()["events"]
    assert len(on_bus) == 7  # created; booked 2, waitlisted 1; 2 no-shows and the waitlist's end
    # At least once (the publisher's, and the relay's again maybe); the publisher's run flushes every 10 s.
    published = eventually(emitted, lambda found: total(found, "EventsPublished") >= len(on_bus))
    assert total(published, "EventsPublished") >= len(on_bus)
    assert day["ColdStart"]["by"]["function_name"]  # each environment's first invocation

    lines = stack.metrics.lines() if stack.metrics is not None else []
    assert lines, "the stack counted no EMF line"
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "OPD"
            named = {name for names in directive["Dimensions"] for name in names}
            assert named <= DIMENSIONS, line
            assert line.get("code") in (None, *CODES), line
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    leaked = sorted({secret for secret in secrets_of_the_day if secret in text})
    assert leaked == [], leaked
