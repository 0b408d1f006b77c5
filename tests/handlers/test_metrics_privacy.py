"""The metrics of issue 24 carry nothing of a patient, nor do the log lines of the routes that emit them: sign-in
by phone (codes sent, refused), a booking with a phone and its refusal, a counter token, through their handlers in
this process (the sign-in triggers too), with every line captured: the Powertools logger's JSON stream at DEBUG, the
root logger at INFO, and stdout and stderr (the EMF lines). The whole stack's EMF lines: tests/e2e/test_emf_metrics.py.
"""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import pytest

from opd.api.errors import CODES
from opd.domain import Slot
from tests.handlers.support import Answer, call, event
from tests.support.signin import SignInCognito, code_in

DIMENSIONS = {"service", "tier", "code", "source", "token", "function_name"}  # kinds, never a patient's anything


def as_reception(name: str, **parts: Any) -> Answer:
    return call(name, event(name, role="reception", **parts))


def test_the_metrics_and_logs_of_sign_in_bookings_and_tokens_carry_no_name_phone_or_code(
    slot: Slot,
    signin_cognito: SignInCognito,
    log_lines: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    phone, booking_phone = f"+9196{secrets.randbelow(10**8):08d}", f"+9195{secrets.randbelow(10**8):08d}"
    name = "Parvathi Ramachandran"
    ask = {"phone": phone}
    assert call("request_code", event("request_code", body=ask)).status == 202
    sent = signin_cognito.sms()
    code = code_in(sent[0][1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert call("verify_code", event("verify_code", body=ask | {"code": wrong})).status == 401
    for _ in range(2):
        assert call("request_code", event("request_code", body=ask)).status == 202
    assert call("request_code", event("request_code", body=ask)).status == 429
    codes = [code, *(code_in(text) for _, text in signin_cognito.sms())]
    assert call("verify_code", event("verify_code", body=ask | {"code": codes[-1]})).status == 200

    made = as_reception("register_patient", body={"name": name, "phone": booking_phone})
    assert made.status == 201, made.body
    booking = {"slotId": slot.slot_id, "patientId": made.body["patientId"], "source": "WALKIN", "phone": booking_phone}
    assert as_reception("create_booking", body=booking).status == 201
    assert as_reception("create_booking", body=booking).status == 409  # DUPLICATE_BOOKING
    assert as_reception("issue_counter_token", path={"counterId": "reg-privacy"}).status == 201

    captured = capsys.readouterr()
    emf = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{"_aws"')]
    emitted = {metric["Name"] for line in emf for d in line["_aws"]["CloudWatchMetrics"] for metric in d["Metrics"]}
    assert {"OtpCodesSent", "OtpCodesRefused", "TooManyRequests", "Bookings", "Rejections", "CounterTokens"} <= emitted
    for line in emf:
        named = {name for d in line["_aws"]["CloudWatchMetrics"] for names in d["Dimensions"] for name in names}
        assert named <= DIMENSIONS, line
        assert line.get("code") in (None, *CODES), line

    logged = "\n".join([log_lines.getvalue(), caplog.text, captured.out, captured.err])
    assert '"message":"sign-in code sent"' in logged  # the capture sees the routes' lines
    never = [name, *name.split(), *codes, wrong]
    never += [p for number in (phone, booking_phone) for p in (number, number.removeprefix("+"), number[3:])]
    leaked = [secret for secret in never if secret in logged]
    assert leaked == [], [line for line in logged.splitlines() if any(secret in line for secret in leaked)]
