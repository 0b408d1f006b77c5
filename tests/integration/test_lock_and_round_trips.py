"""The Redis mutex on a real server, and the round trips an uncontended booking costs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from opd import store as store_module
from opd.domain import Source
from opd.errors import SlotBusy
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, combined


def test_the_lock_is_set_nx_with_the_ttl_and_released_only_by_its_owner(redis_client: redis.Redis) -> None:
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=50)
    owner = lock.acquire("slot-lock-1")
    key = SlotLock.key("slot-lock-1")
    assert redis_client.get(key) == owner.encode()
    assert 0 < redis_client.pttl(key) <= 2000

    assert not lock.release("slot-lock-1", "somebody-else")
    assert redis_client.get(key) == owner.encode()
    assert lock.release("slot-lock-1", owner)
    assert redis_client.get(key) is None


def test_a_busy_slot_waits_a_bounded_time_then_says_retry(redis_client: redis.Redis) -> None:
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=300)
    lock.acquire("slot-lock-2")
    began = time.monotonic()
    with pytest.raises(SlotBusy) as busy:
        lock.acquire("slot-lock-2")
    waited = time.monotonic() - began
    assert busy.value.retry_after_seconds >= 1
    assert 0.3 <= waited < 1.5  # waited its bound, and not the lock's whole TTL


def test_a_waiter_gets_the_lock_as_soon_as_it_is_released_and_reports_its_wait(redis_client: redis.Redis) -> None:
    waits: list[float] = []
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=300, observe_wait=waits.append)
    owner = lock.acquire("slot-lock-3")
    redis_client.pexpire(SlotLock.key("slot-lock-3"), 100)  # the holder finishes soon
    assert lock.acquire("slot-lock-3") != owner
    assert len(waits) == 2 and waits[0] < 50 and 100 <= waits[1] < 300


def test_an_uncontended_booking_costs_at_most_four_round_trips(
    mongo_uri: str, redis_url: str, database_name: str, doctor_id: str
) -> None:
    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    store = SlotStore(client[database_name]["slots"])
    allocator = Allocator(store, SlotLock(counting_redis), Settings())
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = allocator.create_slot(doctor_id, start, start + timedelta(hours=1))
    allocator.book(slot.slot_id, "warm-up", Source.ONLINE)  # connections are made once per environment

    mongo_counter.commands.clear()
    counting_redis.commands.clear()
    allocator.book(slot.slot_id, "measured", Source.PAID)
    trips = combined(mongo_counter.commands, counting_redis.commands)
    assert trips == {"redis set": 1, "mongo find": 1, "mongo update": 1, "redis eval": 1}
    client.close()
