"""A cold start pays for Powertools and pydantic only: clients, boto3, X-Ray, asyncio and the models
of other routes load when first needed (or, under SnapStart, before the snapshot: opd.api.snapstart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opd.api import lazy_packages
from opd.api.observability import tracing_on
from opd.settings import Settings
from tests.handlers.support import ROUTE_HANDLERS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = [
    "pymongo",
    "redis",
    "boto3",
    "aws_xray_sdk",  # the Tracer is made at the first invocation (opd.api.observability.tracer)
    "asyncio",  # Powertools' AppSync resolvers import it (opd.api.lazy_packages)
    "ssl",  # asyncio's, and later the clients' (TLS to Atlas and Upstash)
    "aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event",  # one of 30 event classes
    "babel",  # the SMS catalogs and Accept-Language: read at the first use (opd.catalogs)
]
# Where tracing is on, as in a deployed function: the Tracer must still wait for the first invocation.
IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_REGION": "us-east-1"}


def imported_after(script: str, env: dict[str, str] | None = None) -> object:
    """Run `script` (which prints JSON) in a fresh interpreter with the layer and the repo importable."""
    path = f"{ROOT / 'layers' / 'allocator'}{os.pathsep}{ROOT}"
    environ = {**os.environ, "PYTHONPATH": path, **(env or {})}
    environ.pop("POWERTOOLS_TRACE_DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("env", [{}, IN_LAMBDA], ids=["locally", "in Lambda, tracing on"])
def test_importing_every_route_handler_loads_nothing_heavy(env: dict[str, str]) -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {ROUTE_HANDLERS!r}:\n"
        "    module = importlib.import_module(f'functions.{name}.app')\n"
        "    assert callable(module.lambda_handler) and module.app is not None\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    assert imported_after(script, env) == []


def test_a_handler_builds_no_pydantic_model_at_import() -> None:
    script = (
        "import json\n"
        "import functions.create_booking.app\n"
        "from opd.api import models\n"
        "print(json.dumps(sorted(m.__name__ for m in models.all_models() if m.__pydantic_complete__)))\n"
    )
    assert imported_after(script) == []


def test_the_tracer_comes_with_the_first_invocation_where_tracing_is_on() -> None:
    script = (
        "import json, sys\n"
        "from opd.api.observability import traced\n"
        "handler = traced(lambda event, context: {'echo': event})\n"
        "before = 'aws_xray_sdk' in sys.modules\n"
        "answer = handler({'n': 1}, None)\n"
        "print(json.dumps([before, 'aws_xray_sdk' in sys.modules, answer]))\n"
    )
    assert imported_after(script, IN_LAMBDA) == [False, True, {"echo": {"n": 1}}]


def test_the_lazy_packages_give_every_name_their_init_gives() -> None:
    # Powertools' own __init__ run for real, in a fresh interpreter, against the lazy copies here.
    script = (
        "import importlib, json\n"
        f"real = {{p: importlib.import_module(p) for p in {lazy_packages.PACKAGES!r}}}\n"
        "print(json.dumps({p: {n: f'{getattr(m, n).__module__}.{getattr(m, n).__qualname__}'\n"
        "    for n in m.__all__} for p, m in real.items()}))\n"
    )
    real = imported_after(script)
    assert isinstance(real, dict)
    for package, names in real.items():
        lazy = lazy_packages.lazy_package(package)
        assert lazy is not None, f"{package}'s __init__ is no longer only imports: it loads as usual"
        assert set(names) <= set(lazy.__all__)
        for name, where in names.items():
            value = getattr(lazy, name)
            assert f"{value.__module__}.{value.__qualname__}" == where


def test_an_init_that_does_more_than_import_is_left_alone() -> None:
    package = "aws_lambda_powertools.event_handler"
    only_imports = '"""doc"""\nfrom .api_gateway import Response\n__all__ = ["Response"]\n'
    assert lazy_packages.exported(only_imports, package) == {
        "Response": ("aws_lambda_powertools.event_handler.api_gateway", "Response")
    }
    assert lazy_packages.exported("from .api_gateway import Response\nregister_everything()\n", package) is None
    assert lazy_packages.exported("from .api_gateway import *\n", package) is None


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
