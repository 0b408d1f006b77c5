"""A cold start pays for Powertools and pydantic only: clients, boto3 and X-Ray load when first needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opd.api.observability import tracing_on
from opd.settings import Settings
from tests.handlers.support import ROUTE_HANDLERS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["pymongo", "redis", "boto3", "aws_xray_sdk"]


def test_importing_every_route_handler_loads_no_client_library() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {ROUTE_HANDLERS!r}:\n"
        "    module = importlib.import_module(f'functions.{name}.app')\n"
        "    assert callable(module.lambda_handler) and module.app is not None\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'allocator'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),  # tests, the local runner
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
    ],
)
def test_x_ray_only_where_it_can_trace(env: dict[str, str], on: bool) -> None:
    assert tracing_on(Settings.from_env(env)) is on
