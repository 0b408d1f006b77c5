"""EventBridge away for a burst of over 300 changes on one slot, on real servers: redis-server,
nx-27017 and moto's EventBridge.

Contract v3: publishing never refuses a change, and once the bus is back every event is delivered,
and the notifier sends at most one SMS per event and phone. Red team, v2: the same burst answered
503 "events backlog" from the 100th change on.
"""

from __future__ import annotations

import secrets
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis
from pymongo import MongoClient

from devserver import bus as local_bus
from opd.backlog import EventBacklogStore
from opd.domain import MAX_EVENTS_PER_CHANGE, SPILL_AT, Capacity, Source
from opd.mongo import Document
from opd.publisher import EventBridgePublisher
from opd.service import Allocator
from opd.settings import Settings
from opd.sms import RedisSmsLedger, SmsNotifier
from opd.store import SlotStore
from tests.support.handoff import PublishingLock, publish_at_once

pytestmark = pytest.mark.slow


def unreachable_bus() -> EventBridgePublisher:
    """EventBridge at a port nobody listens on: every PutEvents fails to connect."""
    import boto3  # type: ignore[import-untyped]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client(
        "events", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip
    return EventBridgePublisher("opd-down", client=client)


def test_a_burst_of_changes_with_the_bus_down_is_all_taken_and_delivered_once_it_is_back(
    slot_store: SlotStore,
    redis_client: redis.Redis,
    mongo_client: MongoClient[Document],
    database_name: str,
    moto_bus: local_bus.LocalBus,
    doctor_id: str,
) -> None:
    backlog = EventBacklogStore(mongo_client[database_name]["event_backlog"])
    backlog.ensure_indexes()
    lock = PublishingLock(redis_client)  # the publisher tries the first hand-off, then lets them go for a while
    down = publish_at_once(Allocator(slot_store, lock, Settings(), publisher=unreachable_bus(), backlog=backlog))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    slot = down.create_slot(doctor_id, start, start + timedelta(hours=1), Capacity(30, 0, 0))
    phones = [f"+9198{n:08d}" for n in range(30)]

    made = [down.book(slot.slot_id, f"p{n}", Source.ONLINE, phone=phone) for n, phone in enumerate(phones)]
    for booking in made:
        down.check_in(booking.booking_id)
    for minutes in range(1, 221):
        down.set_delay(slot.slot_id, minutes % 2 == 1, minutes)
    for _ in range(20):
        down.call_next(slot.slot_id, "desk")
    stored = down.get_slot(slot.slot_id)
    assert stored.version == 30 + 30 + 220 + 20 and stored.booked == 30  # every change was taken
    assert len(stored.outbox) < SPILL_AT + MAX_EVENTS_PER_CHANGE  # the document stays bounded
    assert backlog.collection.count_documents({}) > 250
    assert moto_bus.events(slot.slot_id) == []

    bus = EventBridgePublisher(moto_bus.name, moto_bus.client("events"))
    up = Allocator(slot_store, lock, Settings(), publisher=bus,
                   backlog=backlog)  # fmt: skip
    report = up.relay_events()
    assert report.finished and report.pending == 0 and report.from_backlog > 250
    assert backlog.collection.count_documents({}) == 0
    delivered = moto_bus.events(slot.slot_id)
    ids = Counter(e["detail"]["eventId"] for e in delivered)
    assert {f"{slot.slot_id}:{v}:0" for v in range(stored.version + 1)} <= set(ids)  # every change's events
    assert max(ids.values()) == 1  # moved to the backlog, so no longer in the outbox: each once

    sent: list[tuple[str, str]] = []
    # Every delay set tells 30 phones: a spend limit that pays for them, and a month no other test spends in.
    unlimited = Settings(sms_monthly_spend_limit_usd=1000.0)
    month = datetime(2099, 1 + secrets.randbelow(12), 1, tzinfo=UTC)
    notifier = SmsNotifier(RedisSmsLedger(redis_client), lambda phone, text: sent.append((phone, text)), unlimited,
                           lambda: month)  # fmt: skip
    for event in [*delivered, *delivered]:  # EventBridge delivers at least once: here, every event twice
        notifier.notify(event)
    created = [phone for phone, text in sent if text.startswith("OPD: booked")]
    assert sorted(created) == sorted(phones)  # every booking's creation SMS, once
    called = [phone for phone, text in sent if "please go in" in text]
    assert len(called) == len(set(called)) == 20
    delays_set = sum(1 for e in delivered if e["detail-type"] == "SlotDelayChanged" and e["detail"]["slot"]["delayed"])
    late = [phone for phone, text in sent if "running about" in text]
    assert Counter(late) == {phone: delays_set for phone in phones}  # each delay set: one SMS to each phone
