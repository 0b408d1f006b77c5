"""API Gateway HTTP API (payload format 2.0) as the handlers see it: the event, the context, the answer."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

ACCOUNT_ID = "123456789012"
API_ID = "local"
REGION = "us-east-1"

# HTTP APIs pass these bodies on as text; anything else (form posts and a missing Content-Type
# too) arrives base64-encoded.
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


@dataclass(frozen=True)
class HttpRequest:
    """What the runner read off the wire."""

    method: str
    target: str  # path and query as sent, e.g. "/doctors/dr-1/slots?date=2026-11-21"
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def jwt_claims_as_api_gateway_passes_them(claims: Mapping[str, Any]) -> dict[str, str]:
    """API Gateway hands JWT claims to the integration as strings; arrays become "[a b]"."""

    def as_string(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list | tuple):
            return "[" + " ".join(as_string(item) for item in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: as_string(value) for name, value in claims.items()}


def _joined(pairs: Iterable[tuple[str, str]], lower: bool = False) -> dict[str, str]:
    """Repeated names are joined with commas, as API Gateway does for headers and query strings."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if lower else name
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _body(request: HttpRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    media_type = (request.header("content-type") or "").partition(";")[0].strip().lower()
    if media_type.startswith("text/") or media_type in _TEXT_TYPES:
        # Bytes that are not UTF-8 cannot travel in a JSON string: they become U+FFFD.
        return request.body.decode("utf-8", errors="replace"), False
    return base64.b64encode(request.body).decode("ascii"), True


def http_api_event(
    request: HttpRequest,
    route_key: str,
    path_parameters: Mapping[str, str] | None,
    claims: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway would send; `claims` only when a JWT authorizer let the request in."""
    now = datetime.now(UTC)
    headers = [(name, value) for name, value in request.headers if name.lower() != "cookie"]
    cookies = [
        cookie.strip()
        for name, value in request.headers
        if name.lower() == "cookie"
        for cookie in value.split(";")
        if cookie.strip()
    ]
    body, is_base64 = _body(request)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": request.header("host") or "127.0.0.1",
        "domainPrefix": API_ID,
        "http": {
            "method": request.method,
            "path": unquote(request.path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id or str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        scopes = str(claims["scope"]).split() if claims.get("scope") else None
        request_context["authorizer"] = {
            "jwt": {"claims": jwt_claims_as_api_gateway_passes_them(claims), "scopes": scopes}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": unquote(request.path),  # HTTP APIs hand the path over decoded
        "rawQueryString": request.query,
        "headers": _joined(headers, lower=True),
        "requestContext": request_context,
        "isBase64Encoded": is_base64,
    }
    # API Gateway leaves out what the request did not have.
    if cookies:
        event["cookies"] = cookies
    if request.query:
        event["queryStringParameters"] = _joined(parse_qsl(request.query, keep_blank_values=True))
    if path_parameters:
        event["pathParameters"] = {name: unquote(value) for name, value in path_parameters.items()}
    if body is not None:
        event["body"] = body
    return event


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 128
    timeout_s: int = 3
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def answer_from_result(result: Any) -> HttpAnswer:
    """How API Gateway turns a payload-2.0 handler result into an HTTP answer."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # A bare value is a 200 JSON answer (API Gateway's format 2.0 inference).
        return HttpAnswer(200, [("content-type", "application/json")], json.dumps(result).encode())
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode("utf-8")
    return HttpAnswer(int(result["statusCode"]), headers, body)


def json_answer(status: int, payload: Any) -> HttpAnswer:
    return HttpAnswer(status, [("content-type", "application/json")], json.dumps(payload).encode())
