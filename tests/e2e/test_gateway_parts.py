"""The local runner's pieces that decide what a handler sees: routes from the template, the event, the answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from devserver import template as templates
from devserver.apigw import HttpRequest, answer_from_result, http_api_event, jwt_claims_as_api_gateway_passes_them

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {
    "GET /health",
    "GET /slots/{slotId}",
    "GET /doctors/{doctorId}/slots",
    "GET /boards/{doctorId}",
    "GET /doctors",
    "GET /doctors/{doctorId}",
    "GET /status/{code}",  # a status link: the code is the key
    "POST /auth/otp",  # sign-in by phone: the code sent by SMS is the proof
    "POST /auth/otp/verify",
    "GET /boards/counters/{counterId}",  # a counter's board: labels only
    "POST /abdm/v3/hip/patient/profile/share",  # the ABDM gateway's own signed token, checked by the function
}
# The directory and the register: the contract has no event for them (PATCH is never a slot's).
WRITES_NO_SLOT = {"PUT /doctors/{doctorId}", "POST /patients", "POST /auth/otp", "POST /auth/otp/verify"}
# Counters are not slots: their tokens publish no event (the contract lists none).
WRITES_NO_SLOT |= {
    "PUT /counters/{counterId}",
    "POST /counters/{counterId}/tokens",
    "POST /counters/{counterId}/call-next",
    "POST /abdm/v3/hip/patient/profile/share",
}


@pytest.fixture(scope="module")
def template() -> dict[str, object]:
    return templates.load_template(REPO_ROOT / "template.yaml")


def test_the_template_routes_each_contract_endpoint_to_its_function(template: dict[str, object]) -> None:
    table = templates.routes(template, REPO_ROOT)
    handlers = {path.parent.name for path in (REPO_ROOT / "functions").glob("*/app.py")} - {
        "sweep_no_shows",
        "relay_events",
        "publish_events",
        "notify_sms",
        "abdm_on_share",  # the on-share queue's consumer
        "auth_define_challenge",  # Cognito's triggers: invoked by the user pool, not by a route
        "auth_create_challenge",
        "auth_verify_challenge",
    }
    assert sorted(route.function.module for route in table.routes) == sorted(f"functions.{h}.app" for h in handlers)
    assert {route.route_key for route in table.routes if route.public} == PUBLIC
    found = table.find("GET", "/slots/slot-1/queue")
    assert found is not None
    route, parameters = found
    assert (route.function.module, parameters) == ("functions.get_queue.app", {"slotId": "slot-1"})
    assert table.find("DELETE", "/slots/slot-1") is None
    assert table.find("GET", "/slots/slot-1/queue/extra") is None
    # A patient's record and a patient's bookings share a prefix: each path reaches its own function.
    for method, path, module, parameters in [
        ("GET", "/patients", "search_patients", {}),
        ("POST", "/patients", "register_patient", {}),
        ("GET", "/patients/pt-1", "get_patient", {"patientId": "pt-1"}),
        ("PATCH", "/patients/pt-1", "update_patient", {"patientId": "pt-1"}),
        ("GET", "/patients/pt-1/bookings", "list_patient_bookings", {"patientId": "pt-1"}),
    ]:
        found = table.find(method, path)
        assert found is not None, path
        assert (found[0].function.module, found[1]) == (f"functions.{module}.app", parameters)
    assert table.find("PATCH", "/patients/pt-1/bookings") is None and table.find("GET", "/patients/") is None


def test_the_sweeper_gets_its_schedules_input(template: dict[str, object]) -> None:
    sweeper = templates.function_named(template, "sweep_no_shows", REPO_ROOT)
    assert sweeper.module == "functions.sweep_no_shows.app"
    event = templates.scheduled_input(templates.schedule_input(template, sweeper))
    assert event["attemptNumber"] == "1"
    assert not any(str(value).startswith("<aws.scheduler") for value in event.values())


def test_only_values_known_without_aws_reach_the_handlers(template: dict[str, object]) -> None:
    environment = templates.plain_environment(template)
    assert environment["CLINIC_TIME_ZONE"] == "UTC"  # a parameter's default
    assert environment["POWERTOOLS_SERVICE_NAME"] == "opd"
    assert not any(name.endswith("_SECRET") for name in environment)


def test_claims_reach_the_handler_as_api_gateway_passes_them() -> None:
    claims = {"username": "asha", "cognito:groups": ["admin", "reception"], "exp": 1700000000, "flag": True}
    assert jwt_claims_as_api_gateway_passes_them(claims) == {
        "username": "asha",
        "cognito:groups": "[admin reception]",
        "exp": "1700000000",
        "flag": "true",
    }


def test_the_event_is_a_payload_2_0_http_api_event() -> None:
    request = HttpRequest(
        method="POST",
        target="/bookings/b%201/cancel?a=1&a=2",
        headers=[("Content-Type", "application/json"), ("X-Twice", "1"), ("x-twice", "2"), ("Cookie", "c=1; d=2")],
        body=b'{"x": 1}',
    )
    event = http_api_event(request, "POST /bookings/{bookingId}/cancel", {"bookingId": "b%201"}, {"username": "u"})
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /bookings/{bookingId}/cancel"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/bookings/b 1/cancel"
    assert event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["pathParameters"] == {"bookingId": "b 1"}
    assert event["headers"] == {"content-type": "application/json", "x-twice": "1,2"}
    assert event["cookies"] == ["c=1", "d=2"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"x": 1}', False)
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {"username": "u"}


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_text_arrives_base64_encoded(content_type: str | None) -> None:
    headers = [("content-type", content_type)] if content_type else []
    event = http_api_event(HttpRequest("PUT", "/x", headers, b"\xff\x00"), "PUT /x", None)
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)


def test_no_claims_means_no_authorizer() -> None:
    event = http_api_event(HttpRequest("PUT", "/x", [], b""), "PUT /x", None)
    assert "authorizer" not in event["requestContext"]
    assert "pathParameters" not in event and "queryStringParameters" not in event


def test_the_answer_is_what_the_handler_returned() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "cookies": ["a=1", "b=2"],
        "body": base64.b64encode(b"\x00raw").decode(),
        "isBase64Encoded": True,
    }
    answer = answer_from_result(result)
    assert (answer.status, answer.body) == (201, b"\x00raw")
    assert answer.headers == [("Content-Type", "application/json"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
    bare = answer_from_result({"ok": True})  # format 2.0 infers a 200 JSON answer
    assert (bare.status, json.loads(bare.body)) == (200, {"ok": True})


def test_every_route_that_changes_slots_may_publish_events_and_no_reader_may(template: dict[str, object]) -> None:
    """A change's events leave with the request (PutEvents on the stack's bus): least privilege both ways."""
    resources: dict[str, dict[str, object]] = template["Resources"]  # type: ignore[assignment]
    for route in templates.routes(template, REPO_ROOT).routes:
        properties: dict[str, object] = resources[route.function.logical_id]["Properties"]  # type: ignore[assignment]
        publishes = {"Ref": "EventsPublishPolicy"} in properties["Policies"]  # type: ignore[operator]
        changes_slots = route.method in ("POST", "PUT") and route.route_key not in WRITES_NO_SLOT
        assert publishes == changes_slots, route.route_key
