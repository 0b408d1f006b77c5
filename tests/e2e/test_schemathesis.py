"""Property-based requests from docs/openapi.json against the running local API: it never answers 5xx.

Schemathesis generates valid and invalid requests for every operation (bad ids, wrong types,
missing fields, odd headers, and in its coverage phase each schema's boundary values) and sends
them as an admin over real HTTP. The workflow test follows links added here (the document has
none): a created slot's id to its reads, delay and bookings, a booking's id to its moves, so
requests also reach real slots and bookings in every state.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from devserver.runner import LocalStack

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261121,  # the same requests every run; change it to explore others
        "generation": {"max-examples": 50},  # with the coverage phase: about 10 s for the twelve operations
        "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": True}},
    }
)


def _ref(method: str, path: str) -> str:
    return f"#/paths/{path.replace('/', '~1')}/{method}"


def _with_links(document: dict[str, Any]) -> dict[str, Any]:
    """The document with OpenAPI links from each created resource to what takes its id."""
    slot_id = {"slotId": "$response.body#/slotId"}
    booking_id = {"bookingId": "$response.body#/bookingId"}
    from_slot = {
        "GetSlot": {"operationRef": _ref("get", "/slots/{slotId}"), "parameters": slot_id},
        "GetQueue": {"operationRef": _ref("get", "/slots/{slotId}/queue"), "parameters": slot_id},
        "SetDelay": {"operationRef": _ref("put", "/slots/{slotId}/delay"), "parameters": slot_id},
        "CallNext": {"operationRef": _ref("post", "/slots/{slotId}/call-next"), "parameters": slot_id},
        "GetWaitlist": {"operationRef": _ref("get", "/slots/{slotId}/waitlist"), "parameters": slot_id},
        "Book": {
            "operationRef": _ref("post", "/bookings"),
            "requestBody": {"slotId": "$response.body#/slotId", "patientId": "p-workflow", "source": "EMERGENCY"},
        },
    }
    from_booking = {
        name: {"operationRef": _ref(method, path), "parameters": booking_id}
        for name, method, path in (
            ("GetBooking", "get", "/bookings/{bookingId}"),
            ("Cancel", "post", "/bookings/{bookingId}/cancel"),
            ("CheckIn", "post", "/bookings/{bookingId}/check-in"),
            ("NoShow", "post", "/bookings/{bookingId}/no-show"),
            ("Complete", "post", "/bookings/{bookingId}/complete"),
            ("Skip", "post", "/bookings/{bookingId}/skip"),
        )
    }
    from_booking["PatientBookings"] = {
        "operationRef": _ref("get", "/patients/{patientId}/bookings"),
        "parameters": {"patientId": "$response.body#/patientId"},
    }
    document["paths"]["/slots"]["post"]["responses"]["201"]["links"] = from_slot
    document["paths"]["/bookings"]["post"]["responses"]["201"]["links"] = from_booking
    return document


schema = schemathesis.openapi.from_dict(_with_links(json.loads(OPENAPI.read_text(encoding="utf-8"))), config=CONFIG)
pytestmark = pytest.mark.xdist_group("e2e-schemathesis")


@pytest.fixture(scope="module")
def admin(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('admin', 'schemathesis')}"}


@schema.parametrize()
def test_no_request_gets_a_server_error(case: schemathesis.Case[Any], stack: LocalStack, admin: dict[str, str]) -> None:
    case.call_and_validate(base_url=stack.url, headers=admin, checks=[not_a_server_error])


def test_workflows_get_no_server_error(stack: LocalStack, admin: dict[str, str]) -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case[Any]) -> None:
            # A slot that opens, so the links lead somewhere; the parametrized test fuzzes POST /slots itself.
            if case.operation.label == "POST /slots":
                start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
                end = start + timedelta(minutes=30)
                case.body = {
                    "doctorId": f"dr-{uuid.uuid4().hex[:8]}",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                }

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": stack.url, "headers": admin}

        def validate_response(self, response: Any, case: schemathesis.Case[Any], **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=25, stateful_step_count=6, deadline=None, derandomize=True, database=None
        )
    )
