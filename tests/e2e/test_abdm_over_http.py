"""ABDM Scan & Share through the whole local stack: the fake gateway (devserver/abdm.py) signs and posts a share to
the service's route, the counter's queue shows the patient, and the on-share callback comes back through moto's SQS
and the consumer's Lambda environment, also when the gateway is down for its first tries."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from devserver.runner import LocalStack
from tests.e2e.support import Api, eventually

pytestmark = [pytest.mark.xdist_group("e2e-abdm")]


def counter() -> str:
    return f"reg-{uuid.uuid4().hex[:8]}"


def share(api: Api, counter_id: str, abha_address: str = "ravi.kumar@sbx", **profile: Any) -> str:
    body = {"counterId": counter_id, "abhaAddress": abha_address, "name": "Ravi Kumar", **profile}
    answer = api.call("POST", "/_local/abdm/share", body=body)
    assert answer.status_code == 200, answer.text
    request_id: str = answer.json()["requestId"]
    return request_id


def on_share(api: Api, request_id: str) -> requests.Response:
    return api.call("GET", f"/_local/abdm/on-share?requestId={request_id}")


def arrived(api: Api, request_id: str, within_s: float = 45.0) -> dict[str, Any]:
    answer = eventually(lambda: on_share(api, request_id), lambda a: a.status_code == 200, within_s)
    assert answer.status_code == 200, f"no on-share for {request_id}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def test_a_share_puts_the_patient_in_the_counters_queue_and_the_token_reaches_the_gateway(api: Api) -> None:
    counter_id = counter()
    request_id = share(api, counter_id, gender="F", yearOfBirth=1990, phone="9876543210")
    queue = api.as_role("reception", "GET", f"/counters/{counter_id}/queue")
    assert queue.status_code == 200, queue.text
    [token] = queue.json()["tokens"]
    assert (token["patientName"], token["source"], token["status"], token["label"]) == (
        "Ravi Kumar",
        "ABDM",
        "WAITING",
        "R-1",
    )
    callback = arrived(api, request_id)
    assert callback["response"] == {"requestId": request_id}
    acknowledgement = callback["acknowledgement"]
    assert (acknowledgement["tokenNumber"], acknowledgement["expiry"]) == ("1", 1800)
    assert (acknowledgement["status"], acknowledgement["context"]) == ("SUCCESS", counter_id)
    patient = api.as_role("reception", "GET", f"/patients/{token['patientId']}").json()
    assert (patient["abhaAddress"], patient["sex"], patient["yearOfBirth"], patient["phone"]) == (
        "ravi.kumar@sbx",
        "F",
        1990,
        "+919876543210",
    )


def test_a_repeat_share_gets_the_same_token_and_another_patient_the_next(api: Api) -> None:
    counter_id = counter()
    first = share(api, counter_id, abha_address="meena.iyer@sbx")
    other = share(api, counter_id, abha_address="arun.das@sbx")
    again = share(api, counter_id, abha_address="meena.iyer@sbx")
    numbers = {rid: arrived(api, rid)["acknowledgement"]["tokenNumber"] for rid in (first, other, again)}
    assert numbers == {first: "1", other: "2", again: "1"}
    assert arrived(api, again)["acknowledgement"]["expiry"] <= 1800
    tokens = api.as_role("reception", "GET", f"/counters/{counter_id}/queue").json()["tokens"]
    assert [token["number"] for token in tokens] == [1, 2]


def test_the_callback_arrives_after_the_gateway_was_down_for_its_first_tries(stack: LocalStack, api: Api) -> None:
    assert stack.abdm is not None
    stack.abdm.refuse_on_shares(2)  # 503 to the first two tries: the message comes back after 2 s, then 4 s
    began = time.monotonic()
    request_id = share(api, counter(), abha_address="late.gateway@sbx")
    assert on_share(api, request_id).status_code == 404  # not yet
    callback = arrived(api, request_id)
    assert callback["acknowledgement"]["tokenNumber"] == "1"
    assert time.monotonic() - began >= 5  # two refusals and their backoff came first


def test_the_local_share_and_on_share_refuse_what_they_cannot_use(api: Api) -> None:
    missing = api.call("POST", "/_local/abdm/share", body={"counterId": "reg-1", "abhaAddress": "a@sbx"})
    assert (missing.status_code, missing.json()["error"]["details"]) == (
        400,
        [{"field": "name", "message": "is required (text)"}],
    )
    bad_counter = api.call(
        "POST", "/_local/abdm/share", body={"counterId": "reg 1", "abhaAddress": "a@sbx", "name": "A"}
    )
    assert bad_counter.status_code == 400
    # The service's own refusal comes back as it gave it: an ABHA address it cannot keep.
    refused = api.call(
        "POST", "/_local/abdm/share", body={"counterId": "reg-1", "abhaAddress": "no address", "name": "A"}
    )
    assert (
        refused.status_code == 400 and refused.json()["error"]["details"][0]["field"] == "profile.patient.abhaAddress"
    )
    assert api.call("GET", "/_local/abdm/on-share").status_code == 400
    unknown = on_share(api, str(uuid.uuid4()))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")


def test_the_route_refuses_a_share_not_signed_by_the_gateway(api: Api) -> None:
    body = {"intent": "PROFILE_SHARE", "metaData": {"hipId": "OPD-LOCAL-HIP", "context": "reg-1"}}
    body["profile"] = {"patient": {"abhaAddress": "x@sbx", "name": "X"}}
    answer = api.call(
        "POST",
        "/abdm/v3/hip/patient/profile/share",
        body=body,
        headers={"REQUEST-ID": str(uuid.uuid4()), "TIMESTAMP": "2026-11-21T04:30:00.000Z", "X-HIP-ID": "OPD-LOCAL-HIP"},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "UNAUTHORIZED")
