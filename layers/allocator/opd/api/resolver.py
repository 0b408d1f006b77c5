"""What every route handler is built from: one resolver factory, one Lambda entry point, the
caller, the allocator and the success answer.

A handler is then only its route: `app = make_app()`, one `@app.<method>(...)` function, and
`lambda_handler = make_handler(app)`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, content_types
from aws_lambda_powertools.event_handler import Response as Response  # noqa: PLC0414 (re-exported for the handlers)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from opd.api import bounds, errors, snapstart
from opd.api.auth import Caller, caller_of
from opd.api.observability import count_cold_start, logger, metrics, traced

if TYPE_CHECKING:
    from opd.ports import DoctorDirectory
    from opd.service import Allocator, PatientRegister
    from opd.service.counters import CounterDesk

JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
# On every answer, errors included. nosniff: a browser never reads a JSON answer as HTML or script.
# no-store: answers are patient data (bookings, queues) or live counts of places; no cache, shared
# or private, may keep one, and one rule for all cannot miss a route that starts carrying patient data.
RESPONSE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
# The one exception, which a route asks for by name (`answer(..., cache=PUBLIC_FOR_A_SECOND)`) and
# only for its success: the waiting-room board, token numbers and no patient, read by every screen
# every few seconds. A shared cache in front (a CDN, a hospital proxy) may keep it one second, and no
# longer: with the board's 2.5 s poll, a call still reaches the screen within the contract's 5 s.
PUBLIC_FOR_A_SECOND = {"Cache-Control": "public, max-age=1"}
_NOT_JSON = "application/octet-stream"  # what any media type but JSON is to this API (see as_resolver_reads_it)


def make_app() -> APIGatewayHttpResolver:
    # No CORS here: the HttpApi's CorsConfiguration in template.yaml is the one place. With it, API
    # Gateway answers preflights itself and replaces any CORS headers a function sends.
    app = APIGatewayHttpResolver(
        enable_validation=True,
        # A response that breaks its own model is our bug: 500, not Powertools' default 422.
        response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        json_body_deserializer=json_object,
    )
    errors.register(app)
    return app


def make_handler(app: APIGatewayHttpResolver) -> LambdaHandler:
    """The Lambda entry point of `app`; under SnapStart its hooks are registered too (opd.api.snapstart)."""
    snapstart.register(app)

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: an event's body and query carry patients' names,
    # phones and ABHA addresses, which no log line may (contract, "People").
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True, log_event=False
    )
    @traced
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            count_cold_start(context.function_name)
            return with_response_headers(app.resolve(as_resolver_reads_it(event), context))
        finally:
            # Flushed only when there is something to say: reads emit no metrics, and an empty
            # flush (what log_metrics does) warns on every warm invocation.
            if metrics.metric_set:
                metrics.flush_metrics()
            # Flushing clears the set only while metrics are enabled; never carry dimensions over.
            metrics.clear_metrics()

    return lambda_handler


def as_resolver_reads_it(event: dict[str, Any]) -> dict[str, Any]:
    """The event with what Powertools would trip over made plain (a copy; the caller's is untouched).

    Media types are case-insensitive (RFC 9110) but Powertools compares them as written, so
    `APPLICATION/JSON; charset=utf-8` becomes `application/json`. Every other one becomes one
    Powertools refuses (400, "must be sent as application/json"): it would parse form and multipart
    bodies, which this API never takes, and a multipart type without a boundary was a 500. A base64
    body (API Gateway's way with other media types) is decoded here, invalid UTF-8 replaced, where
    Powertools' own decoding would raise and answer 500.
    """
    headers = event.get("headers")
    if isinstance(headers, dict):
        named = [name for name in headers if isinstance(name, str) and name.lower() == "content-type"]
        given = headers.get(named[0]) if named else None
        media = given.partition(";")[0].strip().lower() if isinstance(given, str) else ""
        if media:
            kept = {name: value for name, value in headers.items() if name not in named}
            as_read = content_types.APPLICATION_JSON if media == content_types.APPLICATION_JSON else _NOT_JSON
            event = {**event, "headers": kept | {"content-type": as_read}}
    body = event.get("body")
    if event.get("isBase64Encoded") and isinstance(body, str):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):  # not base64 at all: read as the text it is
            raw = body.encode("utf-8", "replace")
        event = {**event, "body": raw.decode("utf-8", "replace"), "isBase64Encoded": False}
    return event


def with_response_headers(result: dict[str, Any]) -> dict[str, Any]:
    headers = result.setdefault("headers", {})
    present = {name.lower() for name in headers}
    headers.update({name: value for name, value in RESPONSE_HEADERS.items() if name.lower() not in present})
    return result


def json_object(text: str) -> dict[str, Any]:
    """Request bodies are JSON objects; anything else is refused as undecodable (400 on `body`).

    Size and depth are checked before parsing (ValidationFailed on `body`), so neither a huge nor a
    deeply nested body costs more than a scan, and the parser never recurses past MAX_NESTING.
    """
    bounds.check_json_text(text)
    value = bounds.loads(text)
    if not isinstance(value, dict):
        raise json.JSONDecodeError(f"found {JSON_KINDS.get(type(value), 'another value')}", text, 0)
    return value


def caller(app: APIGatewayHttpResolver) -> Caller:
    return caller_of(app.current_event)


def allocator() -> Allocator:
    # pymongo and redis load with the first request that needs them, not with the module.
    from opd import runtime

    return runtime.allocator()


def doctors() -> DoctorDirectory:
    """The doctor directory, made with the first request that needs it, as `allocator()` is."""
    from opd import runtime

    return runtime.doctor_store()


def patients() -> PatientRegister:
    """The patient register, made with the first request that needs it, as `allocator()` is."""
    from opd import runtime

    return runtime.patient_register()


def counters() -> CounterDesk:
    """The registration counters, made with the first request that needs them, as `allocator()` is."""
    from opd import runtime

    return runtime.counter_desk()


def window(service: Allocator | CounterDesk) -> bounds.Window:
    """The days and times a request may name, as of the service's clock (where tests fix "now")."""
    return bounds.Window.around(service.clock(), service.settings.clinic_zone)


def answer[Model: BaseModel](
    body: Model, status: HTTPStatus = HTTPStatus.OK, cache: Mapping[str, str] | None = None
) -> Response[Model]:
    """The success answer; `cache` (PUBLIC_FOR_A_SECOND) replaces the default no-store."""
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body, headers=cache)
