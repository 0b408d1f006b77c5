"""Sign-in by phone through the whole local stack (contract v3, "Sign-in by phone"): the route functions call the
local Cognito as in AWS, the runner's front runs the stack's define, create and verify challenge triggers in
Lambda environments of their own, the code goes out through moto's SNS and is read from GET /_local/sms, and the
answer's access token passes the runner's JWT authorizer as any patient's does."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from devserver.runner import start_stack
from tests.e2e.support import Api, error_of
from tests.support.signin import code_in

pytestmark = pytest.mark.xdist_group("e2e-sign-in")

SMS_WAIT_S = 15.0  # the bus takes the SMS from moto every half second; a cold trigger environment first


def new_phone() -> str:
    return f"+9199{secrets.randbelow(10**8):08d}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def ask(api: Api, phone: str, language: str | None = None) -> requests.Response:
    headers = {"Accept-Language": language} if language else None
    return api.call("POST", "/auth/otp", body={"phone": phone}, headers=headers)


def verify(api: Api, phone: str, code: str) -> requests.Response:
    return api.call("POST", "/auth/otp/verify", body={"phone": phone, "code": code})


def sms_to(api: Api, phone: str) -> list[dict[str, Any]]:
    """What GET /_local/sms shows for `phone` now."""
    answer = api.call("GET", "/_local/sms")
    assert answer.status_code == 200, answer.text
    return [message for message in answer.json()["messages"] if message["phone"] == phone]


def texts_to(api: Api, phone: str, count: int = 1) -> list[dict[str, Any]]:
    """The SMS GET /_local/sms shows for `phone`, once there are `count` of them (and no more)."""
    deadline = time.monotonic() + SMS_WAIT_S
    while len(found := sms_to(api, phone)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(found) == count, found
    return found


def code_sent(api: Api, phone: str, count: int = 1) -> str:
    """The code of the `count`th SMS to the phone (a sign-in code's SMS has no eventId)."""
    message = texts_to(api, phone, count)[-1]
    assert message["eventId"] is None
    return code_in(message["text"])


def signed_in(api: Api, phone: str) -> dict[str, Any]:
    before = len(sms_to(api, phone))
    assert ask(api, phone).status_code == 202
    done = verify(api, phone, code_sent(api, phone, count=before + 1))
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


def test_a_new_phone_signs_in_names_itself_and_books_for_itself(api: Api) -> None:
    phone = new_phone()
    asked = ask(api, phone, "hi-IN,hi;q=0.9")
    assert (asked.status_code, asked.json()) == (202, {"expiresIn": 300})
    [message] = texts_to(api, phone)
    assert message["text"].startswith("OPD: साइन-इन कोड ")  # the request's language
    done = verify(api, phone, code_sent(api, phone))
    assert done.status_code == 200, done.text
    signed = done.json()
    assert signed["newPatient"] is True and signed["refreshToken"] and signed["expiresIn"] > 0
    patient_id, token = signed["patientId"], signed["accessToken"]

    mine = api.call("GET", f"/patients/{patient_id}", token=token)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["name"], mine.json()["phone"]) == (None, phone)
    named = api.call("PATCH", f"/patients/{patient_id}", token=token, body={"name": "Meena Iyer"})
    assert (named.status_code, named.json()["name"]) == (200, "Meena Iyer")

    slot = api.new_slot(starts_in=timedelta(hours=4))
    booked = api.call(
        "POST", "/bookings", token=token, body={"slotId": slot["slotId"], "patientId": patient_id, "source": "ONLINE"}
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["patientId"] == patient_id
    for_another = api.call(
        "POST", "/bookings", token=token, body={"slotId": slot["slotId"], "patientId": "p-other", "source": "ONLINE"}
    )
    assert for_another.status_code == 403
    assert api.call("GET", "/patients/p-other", token=token).status_code == 404
    assert api.call("GET", f"/slots/{slot['slotId']}/queue", token=token).status_code == 403  # a patient's role


def test_a_desk_registered_phone_signs_in_to_that_patient_each_time(api: Api) -> None:
    phone = new_phone()
    registered = api.as_role("reception", "POST", "/patients", {"name": "Ravi Kumar", "phone": phone})
    assert registered.status_code == 201, registered.text
    patient_id = registered.json()["patientId"]
    first = signed_in(api, phone)
    assert (first["patientId"], first["newPatient"]) == (patient_id, False)
    again = signed_in(api, phone)
    assert (again["patientId"], again["newPatient"]) == (patient_id, False)
    mine = api.call("GET", f"/patients/{patient_id}", token=again["accessToken"])
    assert (mine.status_code, mine.json()["name"]) == (200, "Ravi Kumar")


def test_a_new_patient_signs_in_again_as_the_same_patient(api: Api) -> None:
    phone = new_phone()
    first = signed_in(api, phone)
    again = signed_in(api, phone)
    assert (again["patientId"], again["newPatient"]) == (first["patientId"], False)


def test_the_fourth_code_in_15_minutes_is_429_with_retry_after(api: Api) -> None:
    phone = new_phone()
    assert [ask(api, phone).status_code for _ in range(3)] == [202, 202, 202]
    fourth = ask(api, phone)
    assert (fourth.status_code, error_of(fourth)["code"]) == (429, "TOO_MANY_CODES")
    assert 880 <= int(fourth.headers["Retry-After"]) <= 900
    texts_to(api, phone, count=3)
    time.sleep(1.0)  # what a 4th SMS would have needed to show
    assert len(texts_to(api, phone, count=3)) == 3


def test_five_wrong_tries_void_the_code(api: Api) -> None:
    phone = new_phone()
    assert ask(api, phone).status_code == 202
    code = code_sent(api, phone)
    for _ in range(5):
        refused = verify(api, phone, wrong(code))
        assert (refused.status_code, error_of(refused)["code"]) == (401, "INVALID_CODE")
    void = verify(api, phone, code)
    assert (void.status_code, error_of(void)["code"]) == (401, "INVALID_CODE")
    assert len(texts_to(api, phone)) == 1  # the tries sent no new code


def test_a_replayed_code_is_refused(api: Api) -> None:
    phone = new_phone()
    assert ask(api, phone).status_code == 202
    code = code_sent(api, phone)
    assert verify(api, phone, code).status_code == 200
    replayed = verify(api, phone, code)
    assert (replayed.status_code, error_of(replayed)["code"]) == (401, "INVALID_CODE")


def test_a_code_for_another_phone_is_refused(api: Api) -> None:
    mine, theirs = new_phone(), new_phone()
    assert ask(api, mine).status_code == 202 and ask(api, theirs).status_code == 202
    my_code, their_code = code_sent(api, mine), code_sent(api, theirs)
    if my_code == their_code:
        pytest.skip("both phones drew the same code: one chance in a million")
    stolen = verify(api, theirs, my_code)
    assert (stolen.status_code, error_of(stolen)["code"]) == (401, "INVALID_CODE")
    assert verify(api, theirs, their_code).status_code == 200  # one wrong try: their code still works


def test_codes_are_public_routes_and_tokens_are_checked(api: Api) -> None:
    assert verify(api, new_phone(), "123456").status_code == 401  # no token needed, no code asked for
    forged = api.call("GET", "/patients/p-1", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


# -- a code's life, on a stack whose codes live 2 seconds ------------------------------------------------------


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = f"opd_e2e_{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGN_IN_CODE_TTL_SECONDS", "2")  # read by the stack's Lambda environments at their start
        started = start_stack(
            port=0, data_dir=tmp_path_factory.mktemp("short"), auth=True, database=database, concurrency=2
        )
    with started:
        yield Api(started.url)


def test_an_expired_code_is_refused(short_lived: Api) -> None:
    phone = new_phone()
    asked = ask(short_lived, phone)
    assert (asked.status_code, asked.json()) == (202, {"expiresIn": 2})
    code = code_sent(short_lived, phone)
    time.sleep(2.5)
    late = verify(short_lived, phone, code)
    assert (late.status_code, error_of(late)["code"]) == (401, "INVALID_CODE")
