"""ABDM Scan & Share through its two functions, on the test servers: the share route verifies the gateway's token
against keys a fake gateway serves (devserver/abdm.py, its own RSA keys), and the on-share consumer calls it back.
SQS is the session's moto server."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from cryptography.hazmat.primitives.asymmetric import rsa
from pymongo import MongoClient

from devserver.abdm import FakeAbdmGateway
from devserver.apigw import LambdaContext as LocalContext
from devserver.bus import moto_client
from devserver.servers import free_port
from opd import runtime
from opd.abdm import gatewaykeys
from opd.domain.patients import Sex
from opd.mongo import Document
from tests.handlers.support import call, close_runtime, event, handler_module
from tests.support.signin import SignInCognito

HIP = "IN2710000123"
SHARE = "abdm_profile_share"


@pytest.fixture
def gateway() -> Iterator[FakeAbdmGateway]:
    started = FakeAbdmGateway(hip_id=HIP).serve()
    yield started
    started.stop()


@pytest.fixture
def sqs(signin_cognito: SignInCognito) -> Any:
    return moto_client(signin_cognito.moto_endpoint, "sqs")


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"abdm-on-share-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture(autouse=True)
def abdm_set_up(
    monkeypatch: pytest.MonkeyPatch, gateway: FakeAbdmGateway, queue_url: str, signin_cognito: SignInCognito
) -> None:
    """The functions' settings as the template gives them, pointed at the fake gateway and this test's queue."""
    monkeypatch.setenv("ABDM_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("ABDM_HIP_ID", HIP)
    monkeypatch.setenv("ABDM_CLIENT_ID", gateway.client_id)
    monkeypatch.setenv("ABDM_CLIENT_SECRET", gateway.client_secret)
    monkeypatch.setenv("ABDM_ON_SHARE_QUEUE_URL", queue_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", signin_cognito.moto_endpoint)
    close_runtime()  # the settings read again, as a new execution environment would


@pytest.fixture
def database(mongo_client: MongoClient[Document], database_name: str) -> Any:
    return mongo_client[database_name]


def documents(database: Any) -> int:
    """Every document the test's database holds, whatever the collection."""
    return sum(database[name].count_documents({}) for name in database.list_collection_names())


def share_event(
    gateway: FakeAbdmGateway,
    counter_id: str = "reg-1",
    abha_address: str = "ravi.kumar@sbx",
    authorization: str | None = "<gateway's>",
    **headers: str | None,
) -> tuple[dict[str, Any], str]:
    """A share as the fake gateway sends it (ABDM's headers, its signed token), as API Gateway hands it over."""
    sent, body = gateway.share_request(counter_id, abha_address, "Ravi Kumar", "M", 1984, "9876543210")
    body["profile"]["patient"]["address"] = {"line": "12 MG Road", "district": "Pune", "state": "MH", "pincode": "1"}
    given: dict[str, str | None] = {name.lower(): value for name, value in sent.items()}
    if authorization != "<gateway's>":
        given["authorization"] = authorization
    given |= {name.replace("_", "-").lower(): value for name, value in headers.items()}
    return event(SHARE, body=body, headers=given), str(sent["REQUEST-ID"])


def bearer(token: str) -> str:
    return f"Bearer {token}"


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    return list(messages.get("Messages", []))


# -- the share ---------------------------------------------------------------------------------------------------


def test_a_verified_share_gets_a_token_and_its_on_share_is_queued(
    gateway: FakeAbdmGateway, sqs: Any, queue_url: str
) -> None:
    ev, request_id = share_event(gateway)
    answer = call(SHARE, ev)
    assert (answer.status, answer.body) == (202, {"requestId": request_id, "status": "ACCEPTED"})
    desk = runtime.counter_desk()
    [token] = desk.queue("reg-1", desk.today())
    assert (token.number, token.label, token.source.value, token.status.value) == (1, "R-1", "ABDM", "WAITING")
    assert token.expires_at - token.created_at == timedelta(minutes=30)
    patient = runtime.patient_store().holding("ravi.kumar@sbx")
    assert patient is not None and token.patient_id == patient.patient_id
    assert (patient.name, patient.sex, patient.year_of_birth, patient.phone) == (
        "Ravi Kumar",
        Sex.M,
        1984,
        "+919876543210",
    )
    assert patient.address == "12 MG Road, Pune, MH 1"
    [message] = received(sqs, queue_url)
    assert json.loads(message["Body"]) == {
        "counterId": "reg-1",
        "abhaAddress": "ravi.kumar@sbx",
        "requestId": request_id,
    }
    owed = desk.share_callback("reg-1", "ravi.kumar@sbx")
    assert owed is not None and (owed.request_id, owed.token_number, owed.expiry, owed.sent_at) == (
        request_id,
        1,
        1800,
        None,
    )


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "x"}).encode()).rstrip(b"=").decode()
    return f"{header}.{token.split('.')[1]}."


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda g: None, id="missing"),
        pytest.param(lambda g: "Bearer", id="empty"),
        pytest.param(lambda g: "Basic dXNlcjpwYXNz", id="not-bearer"),
        pytest.param(lambda g: "Bearer not.a.jwt", id="garbage"),
        pytest.param(lambda g: bearer(g.gateway_token(key=rsa.generate_private_key(65537, 2048))), id="wrong-key"),
        pytest.param(lambda g: bearer(g.gateway_token(expires_in_s=-60)), id="expired"),
        pytest.param(lambda g: bearer(tampered(g.gateway_token())), id="tampered"),
        pytest.param(lambda g: bearer(unsigned(g.gateway_token())), id="alg-none"),
    ],
)
def test_a_share_the_gateways_keys_do_not_verify_is_401_and_writes_nothing(
    authorization: Any, gateway: FakeAbdmGateway, database: Any, sqs: Any, queue_url: str
) -> None:
    ev, _ = share_event(gateway, authorization=authorization(gateway))
    answer = call(SHARE, ev)
    assert (answer.status, answer.code) == (401, "UNAUTHORIZED")
    assert documents(database) == 0
    assert received(sqs, queue_url) == []


def test_the_token_is_checked_before_the_body_is_read(gateway: FakeAbdmGateway, database: Any) -> None:
    ev, _ = share_event(gateway, authorization=None)
    ev["body"] = "{not json"
    assert call(SHARE, ev).code == "UNAUTHORIZED"
    ev, _ = share_event(gateway)
    ev["body"] = "{not json"
    assert call(SHARE, ev).code == "VALIDATION_ERROR"
    assert documents(database) == 0


def test_a_share_for_another_hip_is_refused_and_writes_nothing(
    gateway: FakeAbdmGateway, database: Any, sqs: Any, queue_url: str
) -> None:
    ev, _ = share_event(gateway, x_hip_id="ANOTHER-HIP")
    answer = call(SHARE, ev)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in answer.details] == ["X-HIP-ID"]
    ev, _ = share_event(gateway)
    body = json.loads(ev["body"])
    body["metaData"]["hipId"] = "ANOTHER-HIP"
    ev["body"] = json.dumps(body)
    assert call(SHARE, ev).details == [
        {"field": "metaData.hipId", "message": "must be this HIP's id: the share is for another HIP"}
    ]
    assert documents(database) == 0
    assert received(sqs, queue_url) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["metaData"].update(context="reg 1"), "metaData.context"),
        (lambda b: b["profile"]["patient"].update(abhaAddress="no address"), "profile.patient.abhaAddress"),
        (lambda b: b["profile"]["patient"].update(name="12345"), "profile.patient.name"),
        (lambda b: b.update(intent="DATA_SHARE"), "intent"),
    ],
)
def test_a_verified_share_that_names_no_counter_or_no_one_is_400(
    change: Any, field: str, gateway: FakeAbdmGateway, database: Any
) -> None:
    ev, _ = share_event(gateway)
    body = json.loads(ev["body"])
    change(body)
    ev["body"] = json.dumps(body)
    answer = call(SHARE, ev)
    assert (answer.status, [detail["field"] for detail in answer.details]) == (400, [field])
    assert runtime.patient_store().holding("ravi.kumar@sbx") is None


HOSTILE_BODIES = [
    "[]",
    "null",
    '"PROFILE_SHARE"',
    "{" * 40 + "}" * 40,
    json.dumps({"x": "y" * 70_000}),
    "\udcff",
]
HOSTILE_CHANGES = [
    lambda b: b["profile"]["patient"].update(name=["Ravi"]),
    lambda b: b["profile"]["patient"].update(yearOfBirth=10**40),
    lambda b: b["profile"]["patient"].update(yearOfBirth=1984.5),
    lambda b: b["profile"]["patient"].update(gender={"M": True}),
    lambda b: b["profile"]["patient"].update(address="12 MG Road"),
    lambda b: b["profile"]["patient"].update(phoneNumber=[9876543210]),
    lambda b: b["profile"]["patient"].update(abhaAddress="x" * 5000),
    lambda b: b["metaData"].update(context={"id": 1}),
    lambda b: b["metaData"].update(context=True),
    lambda b: b["metaData"].update(context=-(10**30)),
    lambda b: b.update(profile=None),
]


@pytest.mark.parametrize("body", [*HOSTILE_BODIES, *range(len(HOSTILE_CHANGES))])
def test_no_body_under_a_good_token_gets_a_server_error(body: str | int, gateway: FakeAbdmGateway) -> None:
    ev, _ = share_event(gateway)
    if isinstance(body, int):
        changed = json.loads(ev["body"])
        HOSTILE_CHANGES[body](changed)
        ev["body"] = json.dumps(changed)
    else:
        ev["body"] = body
    answer = call(SHARE, ev)
    assert answer.status in (202, 400, 413), answer.body


def test_a_repeat_share_within_30_minutes_gets_the_same_token(
    gateway: FakeAbdmGateway, sqs: Any, queue_url: str
) -> None:
    first, _ = share_event(gateway)
    other, _ = share_event(gateway, abha_address="asha.rao@sbx")
    again, again_id = share_event(gateway)
    assert [call(SHARE, ev).status for ev in (first, other, again)] == [202, 202, 202]
    desk = runtime.counter_desk()
    tokens = desk.queue("reg-1", desk.today())
    assert [token.number for token in tokens] == [1, 2]
    owed = desk.share_callback("reg-1", "ravi.kumar@sbx")
    assert owed is not None and (owed.request_id, owed.token_number) == (again_id, 1)  # the repeat's own on-share
    assert len(received(sqs, queue_url)) == 3


def test_the_gateways_keys_are_fetched_once_and_again_for_a_new_kid(
    gateway: FakeAbdmGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gatewaykeys, "REFETCH_COOLDOWN_S", 0.0)  # a rotation right after a fetch, in a test's time
    close_runtime()
    for _ in range(3):
        assert call(SHARE, share_event(gateway)[0]).status == 202
    assert gateway.certs_served == 1
    gateway.rotate()
    for _ in range(3):
        assert call(SHARE, share_event(gateway)[0]).status == 202
    assert gateway.certs_served == 2
    # A kid the gateway does not publish: the set is fetched once more, and the token refused.
    forged = gateway.gateway_token()
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "unknown", "typ": "JWT"}).encode())
    ev, _ = share_event(gateway, authorization=bearer(header.rstrip(b"=").decode() + forged[forged.index(".") :]))
    assert call(SHARE, ev).code == "UNAUTHORIZED"
    assert gateway.certs_served == 3


def test_unknown_kids_right_after_a_fetch_do_not_fetch_the_keys_again(gateway: FakeAbdmGateway) -> None:
    assert call(SHARE, share_event(gateway)[0]).status == 202
    gateway.rotate()  # within the cooldown: the new kid is not fetched yet
    for _ in range(5):
        assert call(SHARE, share_event(gateway)[0]).code == "UNAUTHORIZED"
    assert gateway.certs_served == 1


def test_keys_that_cannot_be_fetched_are_503_and_nothing_is_written(
    gateway: FakeAbdmGateway, monkeypatch: pytest.MonkeyPatch, database: Any
) -> None:
    monkeypatch.setenv("ABDM_GATEWAY_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    close_runtime()
    answer = call(SHARE, share_event(gateway)[0])
    assert (answer.status, answer.code) == (503, "DEPENDENCY_UNAVAILABLE")
    assert documents(database) == 0


def test_scan_and_share_not_set_up_is_404(gateway: FakeAbdmGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABDM_HIP_ID")
    close_runtime()
    for ev in (share_event(gateway)[0], share_event(gateway, authorization=None)[0]):
        answer = call(SHARE, ev)
        assert (answer.status, answer.code) == (404, "NOT_FOUND")
        assert answer.body["error"]["message"] == "Scan & Share is not set up"


def test_a_share_whose_message_is_lost_is_answered_and_the_sweeper_queues_it(
    gateway: FakeAbdmGateway, monkeypatch: pytest.MonkeyPatch, sqs: Any, queue_url: str
) -> None:
    monkeypatch.setenv("ABDM_ON_SHARE_QUEUE_URL", queue_url + "-gone")  # SendMessage fails
    close_runtime()
    assert call(SHARE, share_event(gateway)[0]).status == 202
    monkeypatch.setenv("ABDM_ON_SHARE_QUEUE_URL", queue_url)
    close_runtime()
    sweeper = handler_module("sweep_no_shows")
    now = runtime.counter_desk().clock()
    assert sweeper.resend_on_shares(now) == 0  # not yet 2 minutes owed
    assert sweeper.resend_on_shares(now + timedelta(minutes=3)) == 1
    [message] = received(sqs, queue_url)
    assert json.loads(message["Body"]) == {"counterId": "reg-1", "abhaAddress": "ravi.kumar@sbx"}


# -- the on-share consumer ---------------------------------------------------------------------------------------


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The messages as Lambda's SQS event source hands them over."""
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:abdm-on-share",
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    return {"Records": records}


def consume(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The consumer invoked with the messages, with the template's timeout (30 s)."""
    timeout = cast(LambdaContext, LocalContext("AbdmOnShareFunction", memory_limit_in_mb=256, timeout_s=30))
    result: dict[str, Any] = handler_module("abdm_on_share").lambda_handler(sqs_event(messages), timeout)
    return result


def test_the_consumer_calls_the_gateway_back_with_the_token(gateway: FakeAbdmGateway, sqs: Any, queue_url: str) -> None:
    ev, request_id = share_event(gateway)
    call(SHARE, ev)
    assert consume(received(sqs, queue_url)) == {"batchItemFailures": []}
    assert gateway.on_share(request_id) == {
        "acknowledgement": {
            "status": "SUCCESS",
            "abhaAddress": "ravi.kumar@sbx",
            "context": "reg-1",
            "tokenNumber": "1",
            "expiry": 1800,
        },
        "response": {"requestId": request_id},
    }
    owed = runtime.counter_desk().share_callback("reg-1", "ravi.kumar@sbx")
    assert owed is not None and owed.sent_at is not None
    assert runtime.counter_desk().pending_callbacks(owed.sent_at + timedelta(hours=1)) == []


def test_a_callback_the_gateway_refuses_comes_back_later_each_time(
    gateway: FakeAbdmGateway, sqs: Any, queue_url: str
) -> None:
    ev, request_id = share_event(gateway)
    call(SHARE, ev)
    gateway.refuse_on_shares(1)
    [message] = received(sqs, queue_url)
    assert consume([message]) == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert gateway.on_share(request_id) is None
    assert received(sqs, queue_url) == []  # invisible for its backoff (2 s), not the queue's 30 s nor at once
    again = received_within(sqs, queue_url, 6.0)
    assert again and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert consume(again) == {"batchItemFailures": []}
    assert gateway.on_share(request_id) is not None
    assert gateway.sessions_issued == 1  # the session is kept across the tries


def received_within(sqs: Any, queue_url: str, seconds: float) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(seconds), MessageSystemAttributeNames=["All"]
    )
    return list(messages.get("Messages", []))


def test_a_batch_reports_only_its_failed_messages(gateway: FakeAbdmGateway, sqs: Any, queue_url: str) -> None:
    for abha_address in ("ravi.kumar@sbx", "asha.rao@sbx"):
        call(SHARE, share_event(gateway, abha_address=abha_address)[0])
    messages = received(sqs, queue_url)
    unknown = {
        **messages[0],
        "MessageId": "m-unknown",
        "Body": json.dumps({"counterId": "reg-9", "abhaAddress": "x@sbx"}),
    }
    garbage = {**messages[0], "MessageId": "m-garbage", "Body": "not ours"}
    result = consume([*messages, unknown, garbage])
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-unknown"}]}  # not numbered yet; garbage is dropped
    desk = runtime.counter_desk()
    assert all((owed := desk.share_callback("reg-1", a)) and owed.sent_at for a in ("ravi.kumar@sbx", "asha.rao@sbx"))


def test_without_client_credentials_every_callback_waits(
    gateway: FakeAbdmGateway, monkeypatch: pytest.MonkeyPatch, sqs: Any, queue_url: str
) -> None:
    call(SHARE, share_event(gateway)[0])
    monkeypatch.setenv("ABDM_CLIENT_SECRET", "wrong")
    close_runtime()
    [message] = received(sqs, queue_url)
    assert consume([message]) == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    monkeypatch.delenv("ABDM_CLIENT_ID")
    close_runtime()
    assert consume([message])["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
