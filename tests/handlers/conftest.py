"""Route handlers against real servers: opd.runtime is pointed at the session's Redis and MongoDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from opd.api.observability import metrics
from opd.domain import Booking, Slot, Source
from opd.service import Allocator
from tests.handlers.support import PATIENT, close_runtime, point_runtime_at


@pytest.fixture(autouse=True)
def handler_runtime(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, mongo_uri: str, database_name: str
) -> Iterator[None]:
    """Every handler test: the handlers' runtime on this test's own database (the `allocator` fixture's)."""
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
