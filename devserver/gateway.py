"""API Gateway on this machine: one HTTP request in, one answer out, exactly as the deployed API decides it.

Routing and auth come from template.yaml; the function runs in a local Lambda environment.
The local-only endpoints (`/_local/token`, `/_local/sweep`, `/_local/events`, `/_local/sms`,
`/_local/relay`, `/_local/processes`, `/_local/metrics`, `/docs`, `/openapi.json`) live here too, and `/_local/abdm/*`
is devserver/abdm.py's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from devserver.abdm import LocalAbdm
from devserver.apigw import HttpAnswer, HttpRequest, answer_from_result, http_api_event, json_answer
from devserver.auth import InvalidToken, JwtVerifier
from devserver.busprocess import BusProcess
from devserver.cognito import ROLES, LocalCognito
from devserver.lambdas import EnvironmentPool, FunctionFailed
from devserver.metrics import EmittedMetrics
from devserver.static import static_file
from devserver.template import Cors, Function, RouteTable, scheduled_input
from opd.api import bounds
from opd.api.errors import envelope, status_of
from opd.domain import require_id
from opd.errors import Forbidden, NotFound, OpdError, ValidationFailed

log = logging.getLogger("devserver.runner")

# What API Gateway answers itself, in its own words rather than the contract's envelope.
_INTERNAL_ERROR = HttpAnswer(500, [("content-type", "application/json")], b'{"message":"Internal Server Error"}')
_UNAUTHORIZED_BODY = b'{"message":"Unauthorized"}'  # the JWT authorizer's 401
LOCAL_ONLY = "/_local/"  # admin tokens and the sweeper: for this machine's own pages and tools only
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _swagger_assets() -> Path:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    return Path(swagger_ui.__file__).parent


_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>OPD token API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    // Tokens for "Authorize": POST /_local/token {"role": "admin", "user": "me"}
    SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});
  </script>
</body>
</html>
"""


def error_answer(error: OpdError) -> HttpAnswer:
    """The contract's error envelope, for what the gateway refuses itself (no route, the local-only endpoints)."""
    return json_answer(status_of(error.code).value, envelope(error.code, error.message, error.details))


def _validation_error(field_name: str, message: str) -> HttpAnswer:
    return error_answer(ValidationFailed.field(field_name, message))


def _unauthorized(request: HttpRequest, error: InvalidToken) -> HttpAnswer:
    """The JWT authorizer's 401: its own body, and the reason in `www-authenticate` when a token was sent."""
    headers = [("content-type", "application/json")]
    if request.header("authorization") is not None:
        reason = " ".join(str(error).replace('"', "'").split())
        headers.append(("www-authenticate", f'Bearer scope="" error="invalid_token" error_description="{reason}"'))
    return HttpAnswer(401, headers, _UNAUTHORIZED_BODY)


def _json_object(request: HttpRequest) -> dict[str, Any] | HttpAnswer:
    """The request's JSON object body (an empty body is {}), or the 400 answer; bounded as the API's bodies are."""
    if not request.body.strip():
        return {}
    if len(request.body) > bounds.MAX_BODY_BYTES:
        return error_answer(bounds.body_too_large())
    try:
        text = request.body.decode("utf-8")
        bounds.check_json_text(text)  # before parsing: a deep body would exhaust the parser's stack
        body = bounds.loads(text)
    except ValidationFailed as error:
        return error_answer(error)
    except ValueError:  # not UTF-8, or not JSON
        return _validation_error("body", "is not JSON")
    return body if isinstance(body, dict) else _validation_error("body", "must be a JSON object")


@dataclass
class Gateway:
    routes: RouteTable
    pool: EnvironmentPool
    cognito: LocalCognito
    sweeper: Function
    verifier: JwtVerifier | None  # None: OPD_AUTH=off, every request goes through
    openapi_path: Path
    sweep_input: dict[str, Any] = field(default_factory=dict)  # the schedule's Input, from the template
    cors: Cors | None = None
    own_url: str = "http://127.0.0.1:3000"  # where this runner listens (the runner passes its real port)
    web_root: Path | None = None  # the pages (web/), served at this origin as CloudFront serves them in AWS
    bus: BusProcess | None = None  # the local EventBridge and SNS (moto), and the bus's own process
    processes: Callable[[], dict[str, list[int]]] | None = None  # the stack's process ids, by role
    abdm: LocalAbdm | None = None  # the fake ABDM gateway's /_local/abdm/* endpoints
    metrics: EmittedMetrics | None = None  # what the Lambda environments emitted, for /_local/metrics

    def handle(self, request: HttpRequest) -> HttpAnswer:
        try:
            answer = self._with_cors(request)
        except Exception:  # the runner's own failure: answer like API Gateway does, keep serving
            log.exception("the runner failed on %s %s", request.method, request.path)
            answer = _INTERNAL_ERROR
        if any(name.lower() == "x-content-type-options" for name, _ in answer.headers):
            return answer
        # Every answer, the gateway's own included: a browser never reads JSON as HTML or script.
        return HttpAnswer(answer.status, [*answer.headers, ("x-content-type-options", "nosniff")], answer.body)

    @property
    def own_origins(self) -> frozenset[str]:
        port = urlsplit(self.own_url).port
        return frozenset(f"http://{name}:{port}" for name in _LOOPBACK_NAMES)

    def _from_elsewhere(self, request: HttpRequest) -> bool:
        """A browser request made by another origin's page, or by a page whose DNS name was rebound to 127.0.0.1.

        Browsers send Origin with every cross-origin request and every POST; the Host check covers a rebound
        name's same-origin GET, which carries none. Tools (curl, the tests, the demo) send neither or ours.
        """
        origin = request.header("origin")
        host = request.header("host")
        return (origin is not None and origin.lower() not in self.own_origins) or (
            host is not None and f"http://{host.lower()}" not in self.own_origins
        )

    def _with_cors(self, request: HttpRequest) -> HttpAnswer:
        if request.path.startswith(LOCAL_ONLY):
            # Never CORS headers here: a page of this origin needs none, any other must be refused.
            if self._from_elsewhere(request):
                return error_answer(Forbidden("the local-only endpoints answer only this machine, not other sites"))
            return self._answer(request)
        origin = request.header("origin")
        if self.cors is None or origin is None:
            return self._answer(request)
        if request.method == "OPTIONS" and request.header("access-control-request-method"):
            return HttpAnswer(204, self.cors.preflight_headers(origin), b"")  # API Gateway answers these itself
        answer = self._answer(request)
        # With CORS configured, API Gateway's CORS headers replace any the function sent.
        kept = [(name, value) for name, value in answer.headers if not name.lower().startswith("access-control-")]
        return HttpAnswer(answer.status, kept + self.cors.answer_headers(origin), answer.body)

    def _answer(self, request: HttpRequest) -> HttpAnswer:
        local = self._local_endpoint(request)
        if local is not None:
            return local
        found = self.routes.find(request.method, request.path)
        if found is None:
            return self._static(request) or error_answer(NotFound(f"no route {request.method} {request.path}"))
        route, path_parameters = found
        claims = None
        if not route.public and self.verifier is not None:
            try:
                claims = self.verifier.claims(request.header("authorization"))
            except InvalidToken as error:
                return _unauthorized(request, error)
        event = http_api_event(request, route.route_key, path_parameters, claims)
        return self._invoke(route.function, event)

    def _static(self, request: HttpRequest) -> HttpAnswer | None:
        """A page or one of its files, for a GET or HEAD that no API route took; None: not one of them."""
        if self.web_root is None or request.method not in ("GET", "HEAD"):
            return None
        return static_file(self.web_root, request.path)

    def _invoke(self, function: Function, event: dict[str, Any]) -> HttpAnswer:
        try:
            return answer_from_result(self.pool.invoke(function, event))
        except FunctionFailed as failure:
            log.error("%s failed:\n%s", function.name, failure)
            return _INTERNAL_ERROR

    # -- local-only endpoints ----------------------------------------------------------------

    def _local_endpoint(self, request: HttpRequest) -> HttpAnswer | None:
        endpoint = (request.method, request.path)
        if endpoint == ("POST", "/_local/token"):
            return self._token(request)
        if endpoint == ("POST", "/_local/sweep"):
            return self._sweep(request)
        if endpoint == ("GET", "/_local/events") and self.bus is not None:
            slot_ids = parse_qs(request.query).get("slotId")
            return json_answer(200, {"events": self.bus.events(slot_ids[0] if slot_ids else None)})
        if endpoint == ("GET", "/_local/sms") and self.bus is not None:
            return json_answer(200, {"messages": self.bus.sms()})
        if endpoint == ("POST", "/_local/relay") and self.bus is not None:
            return self._relay()
        if endpoint == ("GET", "/_local/metrics") and self.metrics is not None:
            # The functions' EMF metrics since the runner started, summed (devserver/metrics.py).
            return json_answer(200, self.metrics.summary())
        if endpoint == ("GET", "/_local/processes") and self.processes is not None:
            # For the benchmarks' CPU and memory figures (/proc/<pid>/stat): this machine's process ids by
            # role: gateway, routes, notifier, relay, bus, moto, nx-27017, redis-server (our own servers only).
            return json_answer(200, {"processes": self.processes()})
        if self.abdm is not None and request.path.startswith("/_local/abdm/"):
            return self.abdm.answer(request)
        if endpoint == ("GET", "/openapi.json"):
            return self._openapi(request)
        if endpoint in (("GET", "/docs"), ("GET", "/docs/")):
            return HttpAnswer(200, [("content-type", "text/html; charset=utf-8")], _SWAGGER_PAGE.encode())
        if endpoint == ("GET", "/docs/swagger-ui-bundle.js"):
            return self._asset("swagger-ui-bundle.min.js", "text/javascript")
        if endpoint == ("GET", "/docs/swagger-ui.css"):
            return self._asset("swagger-ui.min.css", "text/css")
        return None

    def _token(self, request: HttpRequest) -> HttpAnswer:
        body = _json_object(request)
        if isinstance(body, HttpAnswer):
            return body
        role, user = body.get("role"), body.get("user")
        if role not in ROLES:
            return _validation_error("role", f"must be one of {', '.join(ROLES)}")
        try:  # a patient's user name is their patientId, so it follows the contract's id pattern
            user = require_id("user", user if isinstance(user, str) else "")
        except ValidationFailed as error:
            return error_answer(error)
        return json_answer(200, {"token": self.cognito.token(str(role), user)})

    def _sweep(self, request: HttpRequest) -> HttpAnswer:
        body = _json_object(request)
        if isinstance(body, HttpAnswer):
            return body
        now = body.get("now")
        if now is not None:
            try:
                at = datetime.fromisoformat(now) if isinstance(now, str) else None
            except ValueError:
                at = None
            if at is None or at.utcoffset() is None:
                return _validation_error("now", "must be an ISO 8601 time with an offset")
            window = bounds.Window.around(datetime.now(UTC), self._clinic_zone())
            if not window.contains(at):  # the sweeper refuses it too, but as a failed function (500)
                return _validation_error("now", window.problem())
        event = scheduled_input(self.sweep_input) | ({"now": now} if now is not None else {})
        try:
            result = self.pool.invoke(self.sweeper, event)
        except FunctionFailed as failure:
            log.error("%s failed:\n%s", self.sweeper.name, failure)
            return _INTERNAL_ERROR
        return json_answer(200, {"marked": int(result["marked"])})

    def _relay(self) -> HttpAnswer:
        """Runs the event relay once, as its schedule does every minute."""
        assert self.bus is not None
        try:
            return json_answer(200, self.bus.relay())
        except FunctionFailed as failure:
            log.error("relay_events failed:\n%s", failure)
            return _INTERNAL_ERROR

    def _clinic_zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.pool.environ.get("CLINIC_TIME_ZONE") or "UTC")
        except (ValueError, KeyError, OSError):  # a bad zone fails the functions' cold start, which says why
            return ZoneInfo("UTC")

    def _openapi(self, request: HttpRequest) -> HttpAnswer:
        if not self.openapi_path.is_file():
            return error_answer(NotFound(f"{self.openapi_path.name} is missing: run `make openapi`"))
        document = json.loads(self.openapi_path.read_text(encoding="utf-8"))
        # "Try it out" should call this runner, whatever port it is on; never a Host header's word for it.
        document["servers"] = [{"url": self.own_url, "description": "this runner"}]
        return json_answer(200, document)

    def _asset(self, name: str, content_type: str) -> HttpAnswer:
        return HttpAnswer(200, [("content-type", content_type)], (_swagger_assets() / name).read_bytes())
