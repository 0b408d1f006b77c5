"""Fixtures of the integration tests beyond tests/conftest.py's servers: moto's EventBridge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devserver import bus as local_bus
from devserver.cognito import CognitoServer


@pytest.fixture(scope="module")
def moto_bus() -> Iterator[local_bus.LocalBus]:
    """moto's server (as the runner starts it), with the local bus and its logging rule set up."""
    server = CognitoServer()
    server.start()
    bus = local_bus.LocalBus(endpoint=f"http://127.0.0.1:{server.port}", deliver=lambda event: None, relay=lambda: {})
    bus.set_up({"source": ["opd"], "detail-type": ["never-delivered"]})
    try:
        yield bus
    finally:
        server.stop()
