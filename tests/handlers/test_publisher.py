"""The publisher's function (functions/publish_events) driven by its sample event: what the booking handler
handed off with its lock's release reaches the bus, and the run ends a few seconds before its timeout."""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any, cast

import pytest
import redis
from aws_lambda_powertools.utilities.typing import LambdaContext

from devserver.apigw import LambdaContext as LocalContext
from opd import runtime
from opd.domain import Slot
from opd.handoff import HAND_OFF_KEY
from tests.handlers.support import EVENTS, PATIENT, call, event, handler_module
from tests.support.events import RecordingPublisher


@pytest.fixture
def handlers_bus(
    monkeypatch: pytest.MonkeyPatch, handler_runtime: None, redis_client: redis.Redis
) -> RecordingPublisher:
    """The bus the handlers publish to (the `allocator` fixture has its own)."""
    recording = RecordingPublisher()
    monkeypatch.setattr(runtime, "event_publisher", cache(lambda: recording))
    runtime.reset()
    redis_client.delete(HAND_OFF_KEY)  # what earlier tests of this Redis handed off and nobody took
    return recording


def test_a_booking_handed_off_by_its_request_is_published_by_the_next_run(
    handlers_bus: RecordingPublisher, slot: Slot, redis_client: redis.Redis
) -> None:
    booked = call(
        "create_booking",
        event("create_booking", body={"slotId": slot.slot_id, "patientId": PATIENT, "source": "ONLINE"}),
    )
    assert booked.status == 201, booked.body
    assert handlers_bus.entries == [] and redis_client.llen(HAND_OFF_KEY) == 1  # the request met no bus: it handed off

    context = cast(LambdaContext, LocalContext("PublishEventsFunction", memory_limit_in_mb=256, timeout_s=4))
    began = time.monotonic()
    scheduled: dict[str, Any] = json.loads((EVENTS / "publish_events.json").read_text())
    answer = handler_module("publish_events").lambda_handler(scheduled, context)
    assert answer == {"published": 1}
    assert 0.5 < time.monotonic() - began < 3.0  # it waited for more until 3 s were left of its 4
    (detail,) = handlers_bus.details("BookingCreated")
    assert (detail["slotId"], detail["booking"]["bookingId"]) == (slot.slot_id, booked.body["bookingId"])
    assert redis_client.llen(HAND_OFF_KEY) == 0
    relayed = redis_client.get(f"relayed:slot:{slot.slot_id}")
    assert relayed is not None and relayed.split()[0] == b"1"  # the marker: every event through version 1 is out
