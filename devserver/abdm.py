"""ABDM's gateway on this machine, for Scan & Share: a fake gateway with keys of its own, the delivery of the on-share
queue to its consumer, and the local-only endpoints that drive them.

- `FakeAbdmGateway`: an HTTP server on 127.0.0.1 with an RSA key made at start (`rotate()` adds another and signs
  with it), serving what the service calls as ABDM's gateway serves it: the JWKS at `/api/hiecm/gateway/v3/certs`,
  sessions by client credentials at `/api/hiecm/gateway/v3/sessions`, and the on-share receiver at
  `/api/hiecm/patient-share/v3/on-share`, which keeps each callback's body by its `response.requestId` (and answers
  503 to the next `refuse_on_shares(n)` ones: the gateway briefly down). `share(...)` signs a gateway token and POSTs
  a profile share to the service's route with ABDM's headers, as the real gateway does when a patient scans.
- `OnShareDelivery`: the AbdmOnShareQueue in moto's SQS (with its dead-letter queue and redrive, as the template has
  them) delivered to the consumer's Lambda environment as Lambda's SQS event source does: a batch received, the
  function invoked with it, the messages it does not report failed deleted; the failed ones come back when their
  visibility (which the function sets: its backoff) runs out, and go to the dead letters after their last receive.
- `LocalAbdm`: `POST /_local/abdm/share` and `GET /_local/abdm/on-share?requestId=` (contract, "Local-only endpoints").

The runner points the Lambda environments at the fake gateway and at the queue (`environment`).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from devserver.apigw import HttpAnswer, HttpRequest, json_answer
from devserver.bus import moto_client
from devserver.motoserver import REGION
from opd.api import bounds
from opd.api.errors import envelope, status_of
from opd.domain import require_id
from opd.errors import NotFound, OpdError, ValidationFailed

log = logging.getLogger("devserver.runner")

CERTS_PATH = "/api/hiecm/gateway/v3/certs"
SESSIONS_PATH = "/api/hiecm/gateway/v3/sessions"
ON_SHARE_PATH = "/api/hiecm/patient-share/v3/on-share"
SHARE_ROUTE = "/abdm/v3/hip/patient/profile/share"
LOCAL_HIP_ID = "OPD-LOCAL-HIP"
LOCAL_CLIENT_ID = "opd-local-hip"
LOCAL_CLIENT_SECRET = "local-only-abdm-client-secret-not-a-secret"
SESSION_TTL_S = 1200
GATEWAY_TOKEN_TTL_S = 600
ACCOUNT = "123456789012"  # moto's


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _SigningKey:
    kid: str
    key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls) -> _SigningKey:
        return cls(f"local-{secrets.token_hex(6)}", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


class FakeAbdmGateway:
    """The gateway's side of Scan & Share; `serve()` starts it on a free port of 127.0.0.1, `stop()` ends it."""

    def __init__(
        self,
        hip_id: str = LOCAL_HIP_ID,
        client_id: str = LOCAL_CLIENT_ID,
        client_secret: str = LOCAL_CLIENT_SECRET,
        cm_id: str = "sbx",
    ) -> None:
        self.hip_id, self.client_id, self.client_secret, self.cm_id = hip_id, client_id, client_secret, cm_id
        self.keys = [_SigningKey.new()]  # the last one signs; all are published
        self.certs_served = 0  # JWKS fetches, for the tests of the service's key cache
        self.sessions_issued = 0
        self._sessions: set[str] = set()
        self._on_shares: dict[str, dict[str, Any]] = {}
        self._refusals = 0
        self._guard = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- what the tests and the local endpoints use -----------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "serve() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self) -> FakeAbdmGateway:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_of(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-abdm-gateway", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    def rotate(self) -> str:
        """A new signing key, published beside the old ones (a rotation); its kid."""
        self.keys.append(_SigningKey.new())
        return self.keys[-1].kid

    def gateway_token(self, expires_in_s: int = GATEWAY_TOKEN_TTL_S, key: rsa.RSAPrivateKey | None = None) -> str:
        """A bearer token as the gateway signs it for a HIP (RS256, its current kid); `key` signs with another key
        under that kid (a forgery), a negative `expires_in_s` makes an expired one."""
        now = int(time.time())
        claims = {
            "iss": f"{self.url}/auth/realms/central-registry",
            "aud": "account",
            "sub": "abdm-gateway",
            "clientId": "abdm-gateway",
            "iat": now,
            "exp": now + expires_in_s,
            "jti": str(uuid.uuid4()),
        }
        signing = self.keys[-1]
        return jwt.encode(claims, key or signing.key, algorithm="RS256", headers={"kid": signing.kid})

    def share_request(
        self,
        counter_id: str,
        abha_address: str,
        name: str,
        gender: str | None = None,
        year_of_birth: int | None = None,
        phone: str | None = None,
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """The headers and body of a profile share to this HIP, as the gateway sends them (ABDM's v3)."""
        patient: dict[str, Any] = {"abhaAddress": abha_address, "name": name}
        given = {"gender": gender, "yearOfBirth": year_of_birth, "phoneNumber": phone}
        patient |= {field_name: value for field_name, value in given.items() if value is not None}
        patient["address"] = {"line": "", "district": "", "state": "", "pincode": ""}
        body = {
            "intent": "PROFILE_SHARE",
            "metaData": {"hipId": self.hip_id, "context": counter_id, "hprId": "", "latitude": "", "longitude": ""},
            "profile": {"patient": patient},
        }
        headers = {
            "Authorization": f"Bearer {self.gateway_token()}",
            "REQUEST-ID": str(uuid.uuid4()),
            "TIMESTAMP": _timestamp(),
            "X-HIP-ID": self.hip_id,
            "X-CM-ID": self.cm_id,
            "Content-Type": "application/json",
        }
        return headers, body

    def share(self, service_url: str, **profile: Any) -> tuple[str, int, bytes]:
        """POST a profile share to the service (`share_request`'s keywords); its REQUEST-ID and the service's answer."""
        headers, body = self.share_request(**profile)
        request = urllib.request.Request(
            service_url.rstrip("/") + SHARE_ROUTE, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return headers["REQUEST-ID"], answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            with refused:
                return headers["REQUEST-ID"], refused.code, refused.read()

    def refuse_on_shares(self, count: int) -> None:
        """The next `count` on-share callbacks are answered 503, as a gateway briefly down would."""
        with self._guard:
            self._refusals = count

    def on_share(self, request_id: str) -> dict[str, Any] | None:
        """The on-share callback received for the share of this REQUEST-ID, if it came."""
        with self._guard:
            return self._on_shares.get(request_id)

    # -- what the service calls --------------------------------------------------------------------------------

    def _session(self, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if not all(headers.get(name) for name in ("request-id", "timestamp", "x-cm-id")):
            return 400, {"code": "ABDM-1000", "message": "REQUEST-ID, TIMESTAMP and X-CM-ID are required"}
        credentials = (body.get("clientId"), body.get("clientSecret"), body.get("grantType"))
        if credentials != (self.client_id, self.client_secret, "client_credentials"):
            return 401, {"code": "ABDM-1001", "message": "invalid client credentials"}
        token = secrets.token_urlsafe(24)
        with self._guard:
            self._sessions.add(token)
            self.sessions_issued += 1
        return 200, {"accessToken": token, "expiresIn": SESSION_TTL_S, "tokenType": "bearer"}

    def _receive_on_share(self, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._guard:
            if scheme.lower() != "bearer" or token not in self._sessions:
                return 401, {"code": "ABDM-1002", "message": "invalid or expired access token"}
            if headers.get("x-cm-id") != self.cm_id or not headers.get("request-id") or not headers.get("timestamp"):
                return 400, {"code": "ABDM-1000", "message": "REQUEST-ID, TIMESTAMP and X-CM-ID are required"}
            request_id = body.get("response", {}).get("requestId") if isinstance(body.get("response"), dict) else None
            if not isinstance(request_id, str):
                return 400, {"code": "ABDM-1003", "message": "response.requestId is required"}
            if self._refusals > 0:
                self._refusals -= 1
                return 503, {"code": "ABDM-9999", "message": "service unavailable"}
            self._on_shares[request_id] = body
        return 202, None


def _handler_of(gateway: FakeAbdmGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: `make serve` prints what the service answers, not what its fake gateway does

        def _answer(self, status: int, payload: Any) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.partition("?")[0] != CERTS_PATH:
                self._answer(404, {"message": "not found"})
                return
            with gateway._guard:
                gateway.certs_served += 1
            self._answer(200, gateway.jwks())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._answer(400, {"code": "ABDM-1000", "message": "a JSON object body is required"})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = self.path.partition("?")[0]
            if path == SESSIONS_PATH:
                self._answer(*gateway._session(headers, body))
            elif path == ON_SHARE_PATH:
                self._answer(*gateway._receive_on_share(headers, body))
            else:
                self._answer(404, {"message": "not found"})

    return Handler


# -- the queue of on-shares, delivered to its consumer as Lambda's SQS event source does --------------------------


@dataclass
class OnShareDelivery:
    endpoint: str  # moto's server
    name: str  # the queue's; its dead letters' is `<name>-dlq`
    consume: Callable[[dict[str, Any]], Any]  # invokes the consumer with an SQS event
    visibility_timeout_s: int = 60
    max_receives: int = 10
    batch_size: int = 10
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def queue_url(self) -> str:
        return queue_url(self.endpoint, self.name)

    @classmethod
    def as_template_has_it(
        cls, template: dict[str, Any], endpoint: str, name: str, consume: Callable[[dict[str, Any]], Any]
    ) -> OnShareDelivery:
        """The delivery with the template's queue (visibility timeout, receives before the dead letters) and its
        event source's batch size."""
        resources = template["Resources"]
        queue = resources["AbdmOnShareQueue"]["Properties"]
        events = resources["AbdmOnShareFunction"]["Properties"]["Events"].values()
        batch = next(int(e["Properties"].get("BatchSize", 10)) for e in events if e.get("Type") == "SQS")
        receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
        return cls(endpoint, name, consume, int(queue.get("VisibilityTimeout", 30)), receives, batch)

    def set_up(self) -> None:
        sqs = moto_client(self.endpoint, "sqs")
        dead = sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(self.max_receives)})
        attributes = {"VisibilityTimeout": str(self.visibility_timeout_s), "RedrivePolicy": redrive}
        made = sqs.create_queue(QueueName=self.name, Attributes=attributes)["QueueUrl"]
        assert made == self.queue_url, f"moto made {made}, the environments were given {self.queue_url}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._deliver_forever, name="local-abdm-on-share", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _deliver_forever(self) -> None:
        sqs = moto_client(self.endpoint, "sqs")
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name}"
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self.deliver(sqs, arn, messages)
            except Exception:  # moto stopping under us at shutdown
                if self._stop.is_set():
                    return
                log.exception("local ABDM: receiving the on-share queue failed")
                time.sleep(0.5)

    def deliver(self, sqs: Any, arn: str, messages: list[dict[str, Any]]) -> None:
        """One batch to the consumer; what it does not report failed is deleted (a failed invocation: none)."""
        event = {"Records": [_record(message, arn) for message in messages]}
        try:
            result = self.consume(event)
        except Exception as failure:  # the whole batch comes back after the queue's visibility timeout
            log.error("abdm_on_share failed on a batch of %d: %s", len(messages), failure)
            return
        failures = result.get("batchItemFailures", []) if isinstance(result, dict) else []
        failed = {str(item.get("itemIdentifier")) for item in failures}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[start:][:10])]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)


def _record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source hands it over."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


def queue_url(endpoint: str, name: str) -> str:
    """moto's URL of a queue, known before it exists (the Lambda environments start with it)."""
    return f"{endpoint}/{ACCOUNT}/{name}"


def environment(gateway_url: str, endpoint: str, queue_url: str) -> dict[str, str]:
    """What the Lambda environments need to take shares from the fake gateway and call it back through the queue."""
    return {
        "ABDM_GATEWAY_URL": gateway_url,
        "ABDM_HIP_ID": LOCAL_HIP_ID,
        "ABDM_CM_ID": "sbx",
        "ABDM_CLIENT_ID": LOCAL_CLIENT_ID,
        "ABDM_CLIENT_SECRET": LOCAL_CLIENT_SECRET,
        "ABDM_ON_SHARE_QUEUE_URL": queue_url,
        "AWS_ENDPOINT_URL_SQS": endpoint,
    }


# -- the local-only endpoints -----------------------------------------------------------------------------------


def _error(error: OpdError) -> HttpAnswer:
    return json_answer(status_of(error.code).value, envelope(error.code, error.message, error.details))


def _share_profile(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /_local/abdm/share`'s body as `FakeAbdmGateway.share`'s keywords; ValidationFailed naming each field."""
    details: list[dict[str, str]] = []
    counter_id, abha_address, name = body.get("counterId"), body.get("abhaAddress"), body.get("name")
    gender, year, phone = body.get("gender"), body.get("yearOfBirth"), body.get("phone")
    try:
        require_id("counterId", counter_id if isinstance(counter_id, str) else "")
    except ValidationFailed as refused:
        details.extend(refused.details)
    for field_name, value in (("abhaAddress", abha_address), ("name", name)):
        if not isinstance(value, str) or not value.strip():
            details.append({"field": field_name, "message": "is required (text)"})
    for field_name, value in (("gender", gender), ("phone", phone)):
        if value is not None and not isinstance(value, str):
            details.append({"field": field_name, "message": "must be text"})
    if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
        details.append({"field": "yearOfBirth", "message": "must be a whole number"})
    unknown = sorted(set(body) - {"counterId", "abhaAddress", "name", "gender", "yearOfBirth", "phone"})
    details.extend({"field": field_name, "message": "is not a field of a share"} for field_name in unknown)
    if details:
        raise ValidationFailed(f"invalid share: {', '.join(d['field'] for d in details)}", details)
    return {
        "counter_id": counter_id,
        "abha_address": abha_address,
        "name": name,
        "gender": gender,
        "year_of_birth": year,
        "phone": phone,
    }


@dataclass
class LocalAbdm:
    """The runner's `/_local/abdm/*` endpoints over its fake gateway; `own_url` is the service's."""

    gateway: FakeAbdmGateway
    own_url: str

    def answer(self, request: HttpRequest) -> HttpAnswer | None:
        """The answer of a `/_local/abdm/*` endpoint; None for a request that is not one of them."""
        endpoint = (request.method, request.path)
        try:
            if endpoint == ("POST", "/_local/abdm/share"):
                return self._share(request)
            if endpoint == ("GET", "/_local/abdm/on-share"):
                return self._on_share(request)
        except OpdError as refused:
            return _error(refused)
        return None

    def _share(self, request: HttpRequest) -> HttpAnswer:
        if len(request.body) > bounds.MAX_BODY_BYTES:
            raise bounds.body_too_large()
        try:
            text = request.body.decode("utf-8")
            bounds.check_json_text(text)
            body = bounds.loads(text) if text.strip() else {}
        except ValueError:  # not UTF-8, or not JSON
            raise ValidationFailed.field("body", "is not JSON") from None
        if not isinstance(body, dict):
            raise ValidationFailed.field("body", "must be a JSON object")
        request_id, status, answer = self.gateway.share(self.own_url, **_share_profile(body))
        if status != HTTPStatus.ACCEPTED:  # the service refused the share: its answer, as it gave it
            return HttpAnswer(status, [("content-type", "application/json")], answer)
        return json_answer(200, {"requestId": request_id})

    def _on_share(self, request: HttpRequest) -> HttpAnswer:
        request_id = (parse_qs(request.query).get("requestId") or [""])[0]
        if not request_id:
            raise ValidationFailed.field("requestId", "is required")
        found = self.gateway.on_share(request_id)
        if found is None:
            raise NotFound("no on-share callback for this requestId has reached the gateway yet")
        return json_answer(200, found)
