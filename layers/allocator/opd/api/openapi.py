"""What a route declares for the OpenAPI document, beside its models: its security and its error answers.

Each handler passes these to its route decorator (`@app.post(..., security=BEARER,
responses={201: ..., **error_responses(...)})`) and Powertools writes the route's part of the
document from them. The error answers come from the one error table, ERRORS: a route names the
errors it can give and gets one answer per status, naming their codes, with the envelope's schema.

Declarations only: no request runs this code, and error answers are never validated against
these models (Powertools validates only the success body). The cost is under 1 ms at a cold
import (building the three models) and about 0.5 ms on a function's first request (Powertools
makes a field for each declared error answer).
"""

from __future__ import annotations

from collections import defaultdict
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opd.api.errors import CODES
from opd.errors import (
    ERRORS,
    RETRY_LATER,
    DependencyUnavailable,
    Forbidden,
    InvalidTransition,
    NotFound,
    OpdError,
    SlotBusy,
    Unauthorized,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

SECURITY_SCHEME = "cognitoJwt"  # the HttpApi's JWT authorizer; its definition is in devserver/openapi.py
BEARER: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]  # `security=` of every route with the authorizer


class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)  # for the document only: built if it is ever written

    code: Annotated[str, Field(json_schema_extra={"enum": list(CODES)})]
    message: str
    details: list[dict[str, Any]]


class Error(BaseModel):
    """Every error this API answers: `{"error": {"code", "message", "details"}}`."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorBody


class GatewayUnauthorized(BaseModel):
    """API Gateway's own answer when its JWT authorizer refuses the bearer token."""

    model_config = ConfigDict(defer_build=True)

    message: Literal["Unauthorized"]


_UNAUTHORIZED: OpenAPIResponse = {
    "description": "Unauthorized: a missing or invalid bearer token, refused by API Gateway's JWT authorizer "
    "before any function runs (its own body, not the error envelope)",
    "content": {"application/json": {"model": GatewayUnauthorized}},
}
_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# What a status change of one booking (cancel, check-in, no-show, complete, skip) can answer besides its success.
TRANSITION_ERRORS: tuple[type[OpdError], ...] = (
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidTransition,
    SlotBusy,
    DependencyUnavailable,
)


def error_responses(*errors: type[OpdError]) -> dict[int, OpenAPIResponse]:
    """Powertools `responses` for the errors a route can answer: one per status, naming their codes."""
    codes: defaultdict[HTTPStatus, list[str]] = defaultdict(list)
    for error in errors:
        codes[ERRORS[error].status].append(error.code)
    responses: dict[int, OpenAPIResponse] = {
        status.value: {
            "description": f"{status.phrase}: `error.code` {_either(names)}",
            "content": {"application/json": {"model": Error}},
        }
        for status, names in codes.items()
    }
    if Unauthorized in errors:
        responses[HTTPStatus.UNAUTHORIZED.value] = _UNAUTHORIZED
    if any(error in RETRY_LATER for error in errors):
        responses[HTTPStatus.TOO_MANY_REQUESTS.value]["headers"] = _RETRY_AFTER
    return responses
