"""docs/openapi.json is what `make openapi` would write now, and it describes the template's routes as they answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from devserver import openapi
from devserver import template as templates
from opd.api.openapi import BEARER, error_responses
from opd.errors import DuplicateBooking, SlotBusy, SlotFull, Unauthorized, ValidationFailed

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
ROUTES = templates.routes(templates.load_template(REPO_ROOT / "template.yaml"), REPO_ROOT).routes


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_up_to_date_and_valid() -> None:
    fresh = openapi.render(openapi.build_document(REPO_ROOT))
    assert DOCUMENT.read_text(encoding="utf-8") == fresh, "docs/openapi.json is stale: run `make openapi`"
    validate(document())


def test_every_template_route_is_documented_with_the_templates_auth() -> None:
    paths = document()["paths"]
    assert {f"{method.upper()} {path}" for path, item in paths.items() for method in item} == {
        route.route_key for route in ROUTES
    }
    for route in ROUTES:
        operation = paths[route.path][route.method.lower()]
        responses = operation["responses"]
        if route.public:
            assert "security" not in operation, route.route_key
            assert "403" not in responses, route.route_key
            if "401" in responses:  # the function's own (a wrong sign-in code), never the authorizer's
                assert responses["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
        else:  # behind the JWT authorizer, which answers a bad token with its own body
            assert operation["security"] == BEARER, route.route_key
            assert responses["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/GatewayUnauthorized")
            assert "403" in responses, route.route_key


def test_only_the_answers_the_api_gives() -> None:
    paths = document()["paths"]
    statuses = {f"{m.upper()} {path}": set(op["responses"]) for path, item in paths.items() for m, op in item.items()}
    assert all(not {"422", "500"} & found for found in statuses.values()), "400 VALIDATION_ERROR, never Powertools' 422"
    assert {route for route, found in statuses.items() if "201" in found} == {  # the contract's 201s
        "POST /slots",
        "POST /bookings",
        "POST /bookings/{bookingId}/reschedule",
        "POST /doctors/{doctorId}/sessions",
        "POST /patients",
        "POST /counters/{counterId}/tokens",
    }
    assert statuses["GET /health"] == {"200", "503"}


def test_error_responses_come_from_the_error_table() -> None:
    responses = error_responses(ValidationFailed, Unauthorized, SlotFull, DuplicateBooking, SlotBusy)
    assert set(responses) == {400, 401, 409, 429}
    assert "SLOT_FULL or DUPLICATE_BOOKING" in responses[409]["description"]
    assert "Retry-After" in responses[429].get("headers", {})
    assert responses[401]["content"]["application/json"] != responses[400]["content"]["application/json"]
