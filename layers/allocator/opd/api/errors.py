"""The one map from what went wrong to the contract's answer: `{"error": {"code", "message", "details"}}`.

Domain errors carry their contract code; ERRORS, the one table of them, gives each its status and
says whether it is final or transient. Request validation (Powertools + pydantic) becomes 400
VALIDATION_ERROR naming each field, never Powertools' 422.
Anything unexpected is logged with its stack and answered 500 INTERNAL_ERROR without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ValidationException,
)

from opd.api.observability import count, logger
from opd.errors import (
    ERRORS,
    RETRY_LATER,
    DependencyUnavailable,
    InvalidCode,
    NotFound,
    OpdError,
    TooManyCodes,
    ValidationFailed,
)

INTERNAL_ERROR = OpdError.code

# A sign-in code refused: one asked for too often (TOO_MANY_CODES), one answered wrong, used or expired (INVALID_CODE).
SIGN_IN_REFUSALS = frozenset({TooManyCodes.code, InvalidCode.code})
# Derived from opd.errors.ERRORS, the one table, never written by hand.
CODES: tuple[str, ...] = tuple(error.code for error in ERRORS)
_STATUS_OF_CODE = {error.code: kind.status for error, kind in ERRORS.items()}

# What a client can do about a body Powertools could not even hand to pydantic.
_BODY_MESSAGES = {
    "missing": "a JSON object body is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "unsupported_content_type": "must be sent as application/json",
}


def status_of(code: str) -> HTTPStatus:
    return _STATUS_OF_CODE.get(code, HTTPStatus.INTERNAL_SERVER_ERROR)


def envelope(code: str, message: str, details: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": [dict(d) for d in details]}}


def error_response(
    code: str, message: str, details: Sequence[Mapping[str, Any]] = (), headers: Mapping[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status_of(code).value,
        content_type=content_types.APPLICATION_JSON,
        body=envelope(code, message, details),
        headers=headers,
    )


def field_details(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """pydantic's errors as the contract's `[{"field": "<dotted path>", "message"}]`.

    A location starts with where the value came from (body, path, query); the rest is the field.
    """
    details = []
    for error in errors:
        where, *path = error.get("loc") or ("body",)
        kind = str(error.get("type", ""))
        if kind == "json_invalid":  # loc is ("body", <character offset>)
            field, message = "body", f"must be a JSON object: {error.get('ctx', {}).get('error', 'invalid JSON')}"
        elif not path:
            field, message = str(where), _BODY_MESSAGES.get(kind, str(error.get("msg", "is invalid")))
        else:
            field, message = ".".join(str(part) for part in path), str(error.get("msg", "is invalid"))
        details.append({"field": field, "message": message})
    return details


def register(app: APIGatewayHttpResolver) -> None:
    """Answer every failure of `app` in the contract's shape, and count the refusals by code."""

    def refused(code: str) -> None:
        count("Rejections", code=code)
        if status_of(code) is HTTPStatus.TOO_MANY_REQUESTS:  # SLOT_BUSY, TOO_MANY_CODES: the client waits Retry-After
            count("TooManyRequests")
        if code in SIGN_IN_REFUSALS:
            count("OtpCodesRefused", code=code)

    def domain_error(error: OpdError) -> Response[dict[str, Any]]:
        headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RETRY_LATER) else None
        if isinstance(error, DependencyUnavailable):
            logger.warning("dependency unavailable", dependency=error.dependency, reason=error.message)
        else:
            logger.info("request refused", code=error.code, reason=error.message)
        refused(error.code)
        return error_response(error.code, error.message, error.details, headers)

    def invalid_request(error: ValidationException) -> Response[dict[str, Any]]:
        details = field_details(error.errors())
        fields = ", ".join(sorted({d["field"] for d in details}))
        logger.info("request invalid", fields=fields)
        refused(ValidationFailed.code)
        return error_response(ValidationFailed.code, f"invalid request: {fields}", details)

    def no_route(error: NotFoundError) -> Response[dict[str, Any]]:
        event = app.current_event
        return error_response(NotFound.code, f"no route {event.request_context.http.method} {event.path}")

    def unexpected(error: Exception) -> Response[dict[str, Any]]:
        logger.exception("unexpected error")
        refused(INTERNAL_ERROR)
        request_id = app.current_event.request_context.request_id
        return error_response(INTERNAL_ERROR, f"internal error; quote request id {request_id} when reporting it")

    app.exception_handler(OpdError)(domain_error)
    app.exception_handler([RequestValidationError, RequestUnsupportedContentType])(invalid_request)
    app.exception_handler(NotFoundError)(no_route)  # Powertools' own: no route matched the request
    app.exception_handler(Exception)(unexpected)
