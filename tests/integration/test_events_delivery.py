"""Events on real servers: redis-server, nx-27017 and moto's EventBridge (the real API, over HTTP).

A process killed after its write, before it published, still gets its event out through the
scheduled relay; every change's event reaches the bus exactly as the outbox holds it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devserver import bus as local_bus
from opd import redisconn
from opd import store as store_module
from opd.domain import Relayed, Slot, Source
from opd.handoff import HandOffQueue
from opd.lock import SlotLock
from opd.publisher import EventBridgePublisher
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore
from tests.support.handoff import PublishingLock, publish_at_once

pytestmark = pytest.mark.slow


def publisher(bus: local_bus.LocalBus) -> EventBridgePublisher:
    return EventBridgePublisher(bus.name, client=bus.client("events"))


def on_the_bus(bus: local_bus.LocalBus, slot_id: str) -> list[tuple[str, str]]:
    return [(e["detail-type"], e["detail"]["eventId"]) for e in bus.events(slot_id)]


class KilledAfterWrite(SlotStore):
    """The store of a process that dies the moment its write is acknowledged: before it can publish."""

    def replace(self, slot: Slot, read_version: int) -> bool:
        written = super().replace(slot, read_version)
        if written:
            os.kill(os.getpid(), signal.SIGKILL)
        return written


def book_and_die(mongo_uri: str, database: str, redis_url: str, endpoint: str, bus: str, slot_id: str) -> None:
    store = KilledAfterWrite(store_module.connect(mongo_uri)[database]["slots"])
    events = EventBridgePublisher(bus, client=_client(endpoint))
    allocator = Allocator(store, SlotLock(redisconn.connect(redis_url), ttl_ms=500), Settings(), publisher=events)
    allocator.book(slot_id, "killed-patient", Source.ONLINE, phone="+919876543210")


def _client(endpoint: str) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.client(
        "events", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_a_process_killed_after_its_write_gets_its_event_out_through_the_relay(
    slot_store: SlotStore,
    redis_url: str,
    mongo_uri: str,
    database_name: str,
    moto_bus: local_bus.LocalBus,
    doctor_id: str,
    soon: datetime,
) -> None:
    lock = PublishingLock(redisconn.connect(redis_url), ttl_ms=500, wait_ms=1000)
    allocator = publish_at_once(Allocator(slot_store, lock, Settings(), publisher=publisher(moto_bus)))
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    assert on_the_bus(moto_bus, slot.slot_id) == [("SlotCreated", f"{slot.slot_id}:0:0")]

    child = multiprocessing.get_context("spawn").Process(
        target=book_and_die,
        args=(mongo_uri, database_name, redis_url, moto_bus.endpoint, moto_bus.name, slot.slot_id),
    )
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL  # killed, as a Lambda whose environment died

    stored = allocator.get_slot(slot.slot_id)
    assert [b.patient_id for b in stored.bookings] == ["killed-patient"]  # the change was written ...
    assert [e.event_id for e in stored.outbox] == [f"{slot.slot_id}:1:0"]  # ... with its event
    assert on_the_bus(moto_bus, slot.slot_id) == [("SlotCreated", f"{slot.slot_id}:0:0")]  # never published

    report = allocator.relay_events()  # the schedule's next run
    assert (report.published, report.pending, report.pruned) == (1, 0, 1)
    created = moto_bus.events(slot.slot_id)[-1]
    assert (created["detail-type"], created["source"]) == ("BookingCreated", "opd")
    assert created["detail"]["eventId"] == f"{slot.slot_id}:1:0" and created["detail"]["slotVersion"] == 1
    assert created["detail"]["booking"]["phone"] == "+919876543210"
    assert allocator.get_slot(slot.slot_id).outbox == ()  # pruned
    assert slot_store.collection.count_documents({"_id": slot.slot_id, "outboxPending": True}) == 0  # off the index

    time.sleep(0.6)  # the dead process's lock expires by its TTL
    booking = allocator.book(slot.slot_id, "next-patient", Source.ONLINE)
    assert allocator.relay_events().published == 0  # the next request's hand-off is out; nothing twice
    assert [t for t, _ in on_the_bus(moto_bus, slot.slot_id)] == ["SlotCreated", "BookingCreated", "BookingCreated"]
    assert on_the_bus(moto_bus, slot.slot_id)[-1][1] == f"{slot.slot_id}:2:0" and booking.token == 2


def test_every_change_reaches_the_bus_once_through_the_publisher_running_beside_it(
    slot_store: SlotStore, redis_client: Any, redis_url: str, moto_bus: local_bus.LocalBus, doctor_id: str
) -> None:
    """The stack's way: each release hands its change's events to a Redis list, and the publisher
    (`EventRelay.listen`, functions/publish_events) takes them off as they come and puts them on the bus."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    key = f"events:handed-off:{uuid.uuid4().hex}"
    allocator = Allocator(
        slot_store, SlotLock(redis_client, hand_off_key=key), Settings(), publisher=publisher(moto_bus)
    )
    queue = HandOffQueue(redisconn.connect(redis_url, timeout_s=2), key=key)
    stop = threading.Event()
    listening = threading.Thread(
        target=allocator.relay.listen, args=(queue.take, lambda: 0.0 if stop.is_set() else 60.0), daemon=True,
        kwargs={"max_wait_s": 0.2},
    )  # fmt: skip
    listening.start()
    try:
        slot = allocator.create_slot(doctor_id, start, start + timedelta(hours=1))
        made = [allocator.book(slot.slot_id, f"p{n}", Source.WALKIN) for n in range(8)]
        for booking in made[:4]:
            allocator.check_in(booking.booking_id)
        allocator.call_next(slot.slot_id, "desk")
        allocator.set_delay(slot.slot_id, True, 15)
        allocator.cancel(made[5].booking_id)
        expected = 1 + 8 + 4 + 1 + 1 + 1
        deadline = time.monotonic() + 10
        while len(on_the_bus(moto_bus, slot.slot_id)) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        listening.join(5)
    seen = on_the_bus(moto_bus, slot.slot_id)
    assert len(seen) == len({event_id for _, event_id in seen}) == expected
    assert [t for t, _ in seen][-3:] == ["BookingCalled", "SlotDelayChanged", "BookingCancelled"]
    assert allocator.relay_events().published == 0  # the publisher put all of it out, and said so
    assert redis_client.llen(key) == 0


def test_a_prune_of_a_slot_that_moved_on_changes_nothing(
    slot_store: SlotStore, redis_client: Any, doctor_id: str, soon: datetime
) -> None:
    allocator = Allocator(slot_store, SlotLock(redis_client), Settings())  # no bus: events stay in the outbox
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    read = allocator.get_slot(slot.slot_id)
    allocator.book(slot.slot_id, "p1", Source.ONLINE)  # written after the relay read the slot
    assert slot_store.prune_outbox(read, Relayed(through=read.version)) is False
    assert [e.detail_type.value for e in allocator.get_slot(slot.slot_id).outbox] == ["SlotCreated", "BookingCreated"]
    now = allocator.get_slot(slot.slot_id)
    assert (
        slot_store.prune_outbox(now, Relayed(through=0)) is True
    )  # at its version: SlotCreated goes, the version stays
    after = allocator.get_slot(slot.slot_id)
    assert [e.detail_type.value for e in after.outbox] == ["BookingCreated"] and after.version == now.version
