"""Route handlers against real servers: opd.runtime is pointed at the session's Redis and MongoDB."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
import redis

from opd.api.observability import logger, metrics
from opd.domain import Booking, Slot, Source
from opd.service import Allocator
from tests.handlers.support import PATIENT, close_runtime, point_runtime_at
from tests.support.signin import SignInCognito, sign_in_cognito


@pytest.fixture(scope="session")
def signin_cognito() -> Iterator[SignInCognito]:
    """moto's Cognito and SNS in a thread, behind the runner's Cognito front, the triggers run in this process."""
    with sign_in_cognito() as started:
        yield started


@pytest.fixture(autouse=True)
def handler_runtime(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    mongo_uri: str,
    database_name: str,
    signin_cognito: SignInCognito,
    redis_client: redis.Redis,
) -> Iterator[None]:
    """Every handler test: the handlers' runtime on this test's own database (the `allocator` fixture's), and sign-in
    by phone on the session's Cognito, with no phone's codes counted yet (Redis outlives a test)."""
    for name, value in signin_cognito.environment().items():
        monkeypatch.setenv(name, value)
    for key in redis_client.scan_iter("otp:*"):
        redis_client.delete(key)
    signin_cognito.sms()  # what earlier tests sent
    point_runtime_at(monkeypatch, redis_url, mongo_uri, database_name)
    metrics.clear_metrics()  # a test that books without a handler leaves its metric unflushed
    yield
    close_runtime()


@pytest.fixture
def slot(allocator: Allocator, doctor_id: str, soon: datetime) -> Slot:
    return allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))


@pytest.fixture
def booking(allocator: Allocator, slot: Slot) -> Booking:
    """A BOOKED booking of the sample events' patient."""
    return allocator.book(slot.slot_id, PATIENT, Source.ONLINE)


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The Powertools logger's stream, at DEBUG, while the test runs; the root logger's lines at INFO in caplog."""
    handler = cast(logging.StreamHandler[Any], logger.registered_handler)
    level = logger.log_level
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel("DEBUG")
    caplog.set_level(logging.INFO)
    try:
        yield stream
    finally:
        logger.setLevel(level)
        handler.setStream(previous)
