"""Drive a route handler the way API Gateway does: its events/<name>.json, patched, then lambda_handler."""

from __future__ import annotations

import copy
import importlib
import json
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from devserver.apigw import LambdaContext as LocalContext
from opd import runtime

EVENTS = Path(__file__).resolve().parents[2] / "events"
ROUTE_HANDLERS = (
    "health",
    "create_slot",
    "get_slot",
    "list_doctor_slots",
    "set_delay",
    "get_queue",
    "create_booking",
    "get_booking",
    "cancel_booking",
    "check_in_booking",
    "mark_no_show",
    "complete_booking",
    "call_next",
    "skip_booking",
    "reschedule_booking",
    "get_board",
    "get_waitlist",
    "list_patient_bookings",
    "open_sessions",
    "take_leave",
    "put_doctor",
    "get_doctor",
    "list_doctors",
    "register_patient",
    "search_patients",
    "get_patient",
    "update_patient",
    "get_status",
    "request_code",
    "verify_code",
    "get_daily_reports",
    "put_counter",
    "issue_counter_token",
    "counter_call_next",
    "get_counter_queue",
    "get_counter_board",
    "abdm_profile_share",
)
# Every answer says no-store, but for one: a board (public, token numbers only) may be kept a second.
CACHED_BRIEFLY = {"get_board": "public, max-age=1", "get_counter_board": "public, max-age=1"}
PATIENT = "patient-sample-001"  # the patient named in the sample events' token
# The contract's Slot, field by field: every slot answer has exactly these.
SLOT_KEYS = {
    "slotId",
    "doctorId",
    "start",
    "end",
    "capacity",
    "delayed",
    "delayMinutes",
    "closed",
    "limits",
    "booked",
    "available",
    "waitlisted",
}
KEEP: Any = object()  # leave this part of the sample event as it is
LOCK_WAIT_MS = 50  # a busy slot answers 429 after this; short keeps the suite fast


def context() -> LambdaContext:
    """The same context object the local runner hands its Lambda environments."""
    return cast(LambdaContext, LocalContext("OpdRouteFunction", memory_limit_in_mb=512, timeout_s=10))


@cache
def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def event(
    name: str,
    *,
    path: dict[str, str] | None = None,
    body: Any = KEEP,
    role: str | None = KEEP,
    user: str | None = None,
    headers: dict[str, str | None] | None = None,
    query: dict[str, str] | None = KEEP,
) -> dict[str, Any]:
    """The sample event of handler `name` with real ids, another body or caller, extra headers.

    body: a dict/list is sent as JSON, a str as is, None sends none. role: a Cognito group such as
    "admin" (or "[admin reception]"), None for no token at all; user: the token's username
    (default: the sample patient for "patient", else "<role>-sample-001"). A sample's Idempotency-Key
    is replaced by a fresh one unless `headers` sets it (None removes it).
    """
    ev = copy.deepcopy(_sample(name))
    if path:
        ev["pathParameters"] = {**ev.get("pathParameters", {}), **path}
        raw_path = ev["routeKey"].split(" ", 1)[1]
        for param, value in ev["pathParameters"].items():
            raw_path = raw_path.replace("{" + param + "}", value)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = raw_path
    if body is not KEEP:
        ev.pop("body", None)
        if body is not None:
            ev["body"] = body if isinstance(body, str) else json.dumps(body)
    if role is None:
        ev["requestContext"].pop("authorizer", None)
        ev["headers"].pop("authorization", None)
    elif role is not KEEP:
        # Public routes' samples carry no token: start from a protected route's claims.
        token = ev["requestContext"].get("authorizer") or _sample("get_queue")["requestContext"]["authorizer"]
        groups = role if role.startswith("[") else f"[{role}]"
        username = user or (PATIENT if role == "patient" else f"{role.strip('[]').split()[0]}-sample-001")
        claims = {**token["jwt"]["claims"], "cognito:groups": groups, "username": username}
        ev["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        ev["headers"]["authorization"] = "Bearer test-token"
    if "idempotency-key" in ev["headers"]:
        # Redis outlives a test: a fresh key per event, so only a test that asks for a repeat gets one.
        ev["headers"]["idempotency-key"] = f"test-{uuid.uuid4().hex}"
    for header, value in (headers or {}).items():
        if value is None:
            ev["headers"].pop(header.lower(), None)
        else:
            ev["headers"][header.lower()] = value
    if query is not KEEP:
        ev["queryStringParameters"] = query
        ev["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    return ev


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        """The contract's error code, if this is an error answer."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return cast(str, self.body["error"]["code"])
        return None

    @property
    def details(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.body["error"]["details"])


def cache_control(name: str, status: int) -> str:
    """The Cache-Control header handler `name` must send with an answer of `status`."""
    return CACHED_BRIEFLY.get(name, "no-store") if status == 200 else "no-store"


def handler_module(name: str) -> Any:
    return importlib.import_module(f"functions.{name}.app")


def call(name: str, ev: dict[str, Any] | None = None) -> Answer:
    """Invoke functions/<name>/app.lambda_handler with `ev` (default: its sample event as is)."""
    raw = handler_module(name).lambda_handler(ev if ev is not None else event(name), context())
    text = raw.get("body")
    return Answer(status=raw["statusCode"], headers=raw.get("headers") or {}, body=json.loads(text) if text else None)


def point_runtime_at(monkeypatch: pytest.MonkeyPatch, redis_url: str, mongo_uri: str, database: str) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("MONGODB_DATABASE", database)
    monkeypatch.setenv("LOCK_WAIT_MS", str(LOCK_WAIT_MS))
    monkeypatch.delenv("OPD_AUTH", raising=False)
    close_runtime()


def close_runtime() -> None:
    """Close what the handlers opened (tests switch servers far more often than Lambda does), then forget it."""
    if runtime.mongo_client.cache_info().currsize:
        runtime.mongo_client().close()
    if runtime.redis_client.cache_info().currsize:
        runtime.redis_client().close()
    if runtime.hand_off_queue.cache_info().currsize:
        runtime.hand_off_queue().client.close()
    runtime.reset()
