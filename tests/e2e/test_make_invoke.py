"""`make invoke FN=<logical id> EVENT=events/<file>.json`: `sam local invoke` without Docker, run for real.

Health starts its own servers (what a newcomer's `make invoke` does); the slot events run against this
session's servers, in a database of their own, through REDIS_URL / MONGODB_URI / MONGODB_DATABASE.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from devserver import REPO_ROOT
from devserver import template as templates

# Without these, a `make` started under `make pytest` would print "Entering directory" on stdout.
_OUTER_MAKE = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")


def make_invoke(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    environ = {name: value for name, value in os.environ.items() if name not in _OUTER_MAKE}
    for name, value in env.items():
        environ.pop(name, None)
        if value is not None:
            environ[name] = value
    command = ["make", "invoke", *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False)


def result_of(done: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    """The status and the decoded body of the answer `make invoke` printed, stdout being that answer alone."""
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["headers"]["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(answer["body"])
    return answer["statusCode"], body


@pytest.fixture
def local_servers(redis_url: str, mongo_uri: str, database_name: str) -> dict[str, str | None]:
    return {"REDIS_URL": redis_url, "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database_name}


def test_health_on_servers_of_its_own() -> None:
    done = make_invoke("FN=HealthFunction", "EVENT=events/health.json", REDIS_URL=None, MONGODB_URI=None)
    assert result_of(done) == (200, {"status": "ok", "redis": "ok", "mongo": "ok"})


def test_the_sample_slot_is_created_from_the_events_claims(local_servers: dict[str, str | None]) -> None:
    # an admin's claims, as API Gateway's authorizer put them in the event: no token, no Cognito
    done = make_invoke("FN=CreateSlotFunction", "EVENT=events/create_slot.json", **local_servers)
    status, slot = result_of(done)
    assert status == 201, slot
    assert slot["doctorId"] == "dr-sample-001"
    assert slot["start"] == "2030-11-21T03:30:00Z"  # 09:00+05:30
    assert slot["limits"] == {"STANDARD": 10, "PREMIUM": 12, "CRITICAL": 15}
    assert slot["booked"] == 0


def test_a_missing_slot_is_the_contracts_404(local_servers: dict[str, str | None]) -> None:
    done = make_invoke("FN=GetSlotFunction", "EVENT=events/get_slot.json", **local_servers)
    status, body = result_of(done)
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["error"]["details"] == []
    # get_slot's own answer, not the 404 of a function that serves no such route ("no route GET /slots/...")
    assert "slot-sample0001" in body["error"]["message"]
    assert "route" not in body["error"]["message"]


def test_an_unknown_function_is_refused_with_the_templates_ids() -> None:
    done = make_invoke("FN=health", "EVENT=events/health.json")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "no function 'health'" in done.stderr
    assert "HealthFunction" in done.stderr
    assert "CreateSlotFunction" in done.stderr


@pytest.mark.parametrize(
    ("event", "said"),
    [("events/none.json", "does not exist"), ("Makefile", "is not JSON")],
)
def test_an_event_file_that_is_missing_or_not_json_is_refused(event: str, said: str) -> None:
    done = make_invoke("FN=HealthFunction", f"EVENT={event}")
    assert done.returncode != 0
    assert said in done.stderr


def test_without_fn_or_event_make_prints_the_usage() -> None:
    done = make_invoke("FN=HealthFunction")
    assert done.returncode != 0
    assert "usage: make invoke FN=" in done.stderr


def test_a_functions_own_variables_join_the_globals() -> None:
    template = templates.load_template(REPO_ROOT / "template.yaml")
    environment = templates.plain_environment(template, "NotifySmsFunction")
    assert environment["SMS_MONTHLY_SPEND_LIMIT_USD"] == "10"  # its own, a parameter's default
    assert environment["POWERTOOLS_SERVICE_NAME"] == "opd"  # the Globals'
    assert "SMS_MONTHLY_SPEND_LIMIT_USD" not in templates.plain_environment(template, "HealthFunction")
