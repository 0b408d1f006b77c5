"""Sign-in by phone (contract v3, "Sign-in by phone"): POST /auth/otp and /auth/otp/verify on real Redis, MongoDB
and moto's Cognito and SNS, behind the runner's Cognito front, with the stack's three trigger functions run in this
process (tests/support/signin.py). The end-to-end tests (tests/e2e/test_sign_in.py) run the same over HTTP."""

from __future__ import annotations

import io
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]
import jwt
import pytest

from opd import catalogs, runtime
from opd.api.observability import logger
from opd.domain import Language
from opd.domain.patients import register
from opd.messages import SIGN_IN_CODE, parts
from tests.handlers.support import Answer, call, event
from tests.support.signin import SignInCognito, code_in


def new_phone() -> str:
    return f"+9198{secrets.randbelow(10**8):08d}"


def ask(phone: str, language: str | None = None) -> Answer:
    return call("request_code", event("request_code", body={"phone": phone}, headers={"accept-language": language}))


def answer(phone: str, code: str) -> Answer:
    return call("verify_code", event("verify_code", body={"phone": phone, "code": code}))


def code_sent(cognito: SignInCognito, phone: str) -> str:
    """The code of the one SMS sent since the last look, which went to `phone`."""
    sent = cognito.sms()
    assert [to for to, _ in sent] == [phone]
    return code_in(sent[0][1])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def claims(token: str) -> dict[str, Any]:
    found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found


def registered(phone: str, name: str = "Asha Verma") -> str:
    """A patient the desk registered with this phone: their id."""
    now = datetime.now(UTC).replace(microsecond=0)
    patient = register(f"pt-{secrets.token_hex(8)}", {"name": name, "phone": phone}, now, now.year)
    assert runtime.patient_store().insert(patient)
    return patient.patient_id


def sign_in(cognito: SignInCognito, phone: str) -> dict[str, Any]:
    assert ask(phone).status == 202
    done = answer(phone, code_sent(cognito, phone))
    assert done.status == 200, done.body
    body: dict[str, Any] = done.body
    return body


def test_a_new_phone_signs_in_as_a_new_patient_with_a_patients_token(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    asked = ask(phone)
    assert (asked.status, asked.body) == (202, {"expiresIn": 300})
    code = code_sent(signin_cognito, phone)
    done = answer(phone, code)
    assert done.status == 200, done.body
    assert set(done.body) == {"accessToken", "refreshToken", "expiresIn", "patientId", "newPatient"}
    assert done.body["newPatient"] is True and done.body["expiresIn"] > 0 and done.body["refreshToken"]
    token = claims(done.body["accessToken"])
    assert token["username"] == done.body["patientId"]
    assert token["cognito:groups"] == ["patient"]
    assert token["client_id"] == signin_cognito.cognito.patient_client_id
    patient = runtime.patient_store().get(done.body["patientId"])
    assert patient is not None and (patient.name, patient.phone) == (None, phone)


def test_a_desk_registered_phone_signs_in_to_that_patient_and_again_later(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    patient_id = registered(phone)
    first = sign_in(signin_cognito, phone)
    assert (first["patientId"], first["newPatient"]) == (patient_id, False)
    assert claims(first["accessToken"])["username"] == patient_id
    again = sign_in(signin_cognito, phone)
    assert (again["patientId"], again["newPatient"]) == (patient_id, False)
    assert runtime.patient_store().get(patient_id).name == "Asha Verma"  # type: ignore[union-attr]


def test_a_new_patient_signs_in_again_as_the_same_patient(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    first = sign_in(signin_cognito, phone)
    again = sign_in(signin_cognito, phone)
    assert (again["patientId"], again["newPatient"]) == (first["patientId"], False)


def test_a_phone_two_patients_share_signs_in_as_a_new_patient(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    family = {registered(phone, "Asha Verma"), registered(phone, "Ravi Verma")}
    signed = sign_in(signin_cognito, phone)
    assert signed["newPatient"] is True and signed["patientId"] not in family


def test_a_patient_with_another_phones_account_is_not_taken_again(signin_cognito: SignInCognito) -> None:
    first_phone, second_phone = new_phone(), new_phone()
    patient_id = registered(first_phone)
    assert sign_in(signin_cognito, first_phone)["patientId"] == patient_id
    # The desk gives the patient a new phone: it signs in as a new patient, the old one keeps the account.
    runtime.patient_register().amend(patient_id, {"phone": second_phone})
    moved = sign_in(signin_cognito, second_phone)
    assert moved["newPatient"] is True and moved["patientId"] != patient_id


def test_the_fourth_code_within_15_minutes_is_429_with_retry_after(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    assert [ask(phone).status for _ in range(3)] == [202, 202, 202]
    fourth = ask(phone)
    assert (fourth.status, fourth.code) == (429, "TOO_MANY_CODES")
    assert 890 <= int(fourth.headers["Retry-After"]) <= 900
    assert len(signin_cognito.sms()) == 3  # the 4th sent nothing
    assert ask(new_phone()).status == 202  # the limit is the phone's, not everyone's


def test_five_wrong_tries_void_the_code(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    assert ask(phone).status == 202
    code = code_sent(signin_cognito, phone)
    for _ in range(5):
        refused = answer(phone, wrong(code))
        assert (refused.status, refused.code) == (401, "INVALID_CODE")
    assert signin_cognito.sms() == []  # a wrong answer sends no new code
    void = answer(phone, code)
    assert (void.status, void.code) == (401, "INVALID_CODE")


def test_four_wrong_tries_then_the_right_code_signs_in(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    assert ask(phone).status == 202
    code = code_sent(signin_cognito, phone)
    assert [answer(phone, wrong(code)).status for _ in range(4)] == [401] * 4
    assert answer(phone, code).status == 200


def test_an_expired_code_is_refused(monkeypatch: pytest.MonkeyPatch, signin_cognito: SignInCognito) -> None:
    monkeypatch.setenv("SIGN_IN_CODE_TTL_SECONDS", "1")
    runtime.reset()  # the settings read again, as a new execution environment would
    phone = new_phone()
    asked = ask(phone)
    assert (asked.status, asked.body) == (202, {"expiresIn": 1})
    code = code_sent(signin_cognito, phone)
    time.sleep(1.2)
    late = answer(phone, code)
    assert (late.status, late.code) == (401, "INVALID_CODE")


def test_a_code_works_once(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    assert ask(phone).status == 202
    code = code_sent(signin_cognito, phone)
    assert answer(phone, code).status == 200
    replayed = answer(phone, code)
    assert (replayed.status, replayed.code) == (401, "INVALID_CODE")


def test_a_code_for_another_phone_is_refused(signin_cognito: SignInCognito) -> None:
    mine, theirs = new_phone(), new_phone()
    assert ask(mine).status == 202
    my_code = code_sent(signin_cognito, mine)
    assert ask(theirs).status == 202
    their_code = code_sent(signin_cognito, theirs)
    if their_code == my_code:  # one chance in a million: the property is about sessions, not digits
        pytest.skip("both phones drew the same code")
    stolen = answer(theirs, my_code)
    assert (stolen.status, stolen.code) == (401, "INVALID_CODE")
    assert answer(mine, their_code).status == 401
    assert answer(theirs, their_code).status == 200  # one wrong try of 5: their code still works


def test_a_new_code_replaces_the_one_before(signin_cognito: SignInCognito) -> None:
    phone = new_phone()
    assert ask(phone).status == 202
    first = code_sent(signin_cognito, phone)
    assert ask(phone).status == 202
    second = code_sent(signin_cognito, phone)
    if first == second:
        pytest.skip("both codes drew the same digits")
    assert answer(phone, first).status == 401
    assert answer(phone, second).status == 200


def test_a_code_without_a_request_is_refused() -> None:
    refused = answer(new_phone(), "123456")
    assert (refused.status, refused.code) == (401, "INVALID_CODE")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "9876543210"}, "phone"),
        ({"phone": "+91 98765 43210"}, "phone"),
        ({}, "phone"),
        ({"phone": "+919876543210", "extra": 1}, "extra"),
    ],
)
def test_a_phone_not_in_e164_is_400(body: dict[str, Any], field: str, signin_cognito: SignInCognito) -> None:
    refused = call("request_code", event("request_code", body=body))
    assert (refused.status, refused.code) == (400, "VALIDATION_ERROR")
    assert field in {detail["field"] for detail in refused.details}
    assert signin_cognito.sms() == []


@pytest.mark.parametrize("code", ["12345", "1234567", "12ab56", 123456, ""])
def test_a_code_not_of_6_digits_is_400(code: object) -> None:
    refused = call("verify_code", event("verify_code", body={"phone": new_phone(), "code": code}))
    assert (refused.status, refused.code) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("ta-IN,ta;q=0.9,en;q=0.8", "ta"),
        ("en-GB,hi;q=0.5", "en"),
        ("en-GB,hi;q=0.8", "en"),
        ("fr-FR, hi;q=0.4", "hi"),
        ("hi-IN", "hi"),
        ("ta", "ta"),
        ("en;q=0.3, ta;q=0.9, hi;q=0.6", "ta"),  # by quality, not as listed
        ("hi;q=0, en;q=0.2", "en"),  # q=0: not wanted
        (None, "en"),
        ("fr", "en"),
        ("*", "en"),
    ],
)
def test_the_code_is_written_in_the_requests_language(
    accept_language: str | None, language: str, signin_cognito: SignInCognito
) -> None:
    phone = new_phone()
    assert ask(phone, accept_language).status == 202
    [(to, text)] = signin_cognito.sms()
    code = code_in(text)
    assert to == phone and text == catalogs.template(SIGN_IN_CODE, Language(language)).format(code=code, minutes=5)
    assert parts(text) == 1


def test_without_accept_language_the_deployments_default_is_used(
    monkeypatch: pytest.MonkeyPatch, signin_cognito: SignInCognito
) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "hi")
    runtime.reset()
    phone = new_phone()
    assert ask(phone).status == 202
    [(_, text)] = signin_cognito.sms()
    assert text == catalogs.template(SIGN_IN_CODE, Language.HI).format(code=code_in(text), minutes=5)
    assert ask(new_phone(), "fr-FR, de;q=0.9").status == 202  # none of ours: the default too
    [(_, text)] = signin_cognito.sms()
    assert text == catalogs.template(SIGN_IN_CODE, Language.HI).format(code=code_in(text), minutes=5)


def test_redis_unreachable_is_503_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, signin_cognito: SignInCognito
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    runtime.reset()
    refused = ask(new_phone())
    assert (refused.status, refused.code) == (503, "DEPENDENCY_UNAVAILABLE")
    assert refused.details == [{"dependency": "redis"}]
    assert signin_cognito.sms() == []


def test_beyond_the_codes_share_of_the_sms_limit_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, signin_cognito: SignInCognito
) -> None:
    monkeypatch.setenv("SIGN_IN_SMS_SHARE_PERCENT", "0")
    runtime.reset()
    phone = new_phone()
    refused = ask(phone)
    assert (refused.status, refused.code) == (503, "DEPENDENCY_UNAVAILABLE")
    assert refused.details == [{"dependency": "sms"}]
    assert signin_cognito.sms() == []
    assert answer(phone, "123456").code == "INVALID_CODE"  # no sign-in was kept


def test_a_sign_in_started_around_the_service_sends_no_code(signin_cognito: SignInCognito) -> None:
    """Cognito's own InitiateAuth, with the patients' client id (public, in the app's config) and a patient's id:
    the Create trigger finds no ticket from the service, sends nothing, and the start fails."""
    phone = new_phone()
    patient_id = sign_in(signin_cognito, phone)["patientId"]
    public = boto3.client(
        "cognito-idp",
        endpoint_url=signin_cognito.front.endpoint,
        region_name="us-east-1",
        aws_access_key_id="anyone",
        aws_secret_access_key="anyone",
    )
    with pytest.raises(public.exceptions.UserLambdaValidationException, match="CreateAuthChallenge failed"):
        public.initiate_auth(
            ClientId=signin_cognito.cognito.patient_client_id,
            AuthFlow="CUSTOM_AUTH",
            AuthParameters={"USERNAME": patient_id},
        )
    assert signin_cognito.sms() == []


OUR_LOGGERS = ("opd", "functions", "devserver", "botocore", "boto3", "urllib3")


def test_no_log_line_carries_the_code_the_phone_or_a_token(
    caplog: pytest.LogCaptureFixture, signin_cognito: SignInCognito
) -> None:
    """Everything logged at DEBUG by the functions' Powertools logger (its JSON lines, extra keys included), the
    layer's modules and the AWS clients (botocore at DEBUG would print every request's parameters), while a phone
    asks, answers wrong, answers right, replays, and asks too often. (Powertools' own internals, which print a
    route's parsed request at DEBUG, log only with POWERTOOLS_DEBUG, which no deployment sets.)"""
    lines = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    level, stream = logger.log_level, handler.setStream(lines)
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        phone = new_phone()
        assert ask(phone).status == 202
        code = code_sent(signin_cognito, phone)
        assert answer(phone, wrong(code)).status == 401
        done = answer(phone, code)
        assert done.status == 200
        assert answer(phone, code).status == 401
        assert [ask(phone).status for _ in range(3)] == [202, 202, 429]
    finally:
        handler.setStream(stream)
        logger.setLevel(level)
    ours = [record.getMessage() for record in caplog.records if record.name.startswith(OUR_LOGGERS)]
    logged = lines.getvalue() + "\n".join(ours)
    assert done.body["patientId"] in lines.getvalue()  # the log says who signed in, by id
    assert "auth challenge trigger answered" in lines.getvalue()  # the triggers' lines are in it
    for secret in (phone, phone.removeprefix("+"), code, wrong(code), done.body["accessToken"]):
        assert secret not in logged
