"""What every route handler is built from: one resolver factory, one Lambda entry point, the
caller, the allocator and the success answer.

A handler is then only its route: `app = make_app()`, one `@app.<method>(...)` function, and
`lambda_handler = make_handler(app)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from opd.api import errors
from opd.api.auth import Caller, caller_of
from opd.api.observability import logger, metrics, traced

if TYPE_CHECKING:
    from opd.service import Allocator

JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


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
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @traced
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return app.resolve(event, context)
        finally:
            # Flushed only when there is something to say: reads emit no metrics, and an empty
            # flush (what log_metrics does) warns on every warm invocation.
            if metrics.metric_set:
                metrics.flush_metrics()
            # Flushing clears the set only while metrics are enabled; never carry dimensions over.
            metrics.clear_metrics()

    return lambda_handler


def json_object(text: str) -> dict[str, Any]:
    """Request bodies are JSON objects; anything else is refused as undecodable (400 on `body`)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise json.JSONDecodeError(f"found {JSON_KINDS.get(type(value), 'another value')}", text, 0)
    return value


def caller(app: APIGatewayHttpResolver) -> Caller:
    return caller_of(app.current_event)


def allocator() -> Allocator:
    # pymongo and redis load with the first request that needs them, not with the module.
    from opd import runtime

    return runtime.allocator()


def answer[Model: BaseModel](body: Model, status: HTTPStatus = HTTPStatus.OK) -> Response[Model]:
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body)
