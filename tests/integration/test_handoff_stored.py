"""The hand-off list on redis-server: the release's script pushes a written change's events, the publisher's end
takes them in order, in batches, waiting for the first."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import redis

from opd import redisconn
from opd.eventbridge import Entry
from opd.handoff import HandedOff, HandOffQueue
from opd.lock import SlotLock
from opd.ports import Held

NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)


def change(version: int) -> HandedOff:
    return HandedOff("slot-h", version, True, (Entry(f"slot-h:{version}:0", "BookingCreated", "{}", NOW),))


def own_key() -> str:
    return f"events:handed-off:{uuid.uuid4().hex}"


def test_the_release_hands_off_the_change_even_when_its_lock_was_lost(redis_client: redis.Redis) -> None:
    key = own_key()
    lock = SlotLock(redis_client, ttl_ms=50, hand_off_key=key)
    held = lock.acquire("slot-h")
    assert isinstance(held, Held)
    assert lock.release("slot-h", held.owner, change(1).encode()) is True
    late = lock.acquire("slot-h")
    assert isinstance(late, Held)
    time.sleep(0.1)  # its TTL ran out: a stalled holder whose fenced write still went through
    assert lock.release("slot-h", late.owner, change(2).encode()) is False  # not ours to release any more ...
    assert lock.release("slot-h", "nobody") is False  # ... and a release without a change hands nothing off
    queue = HandOffQueue(redis_client, key=key, linger_s=0)
    assert queue.take(10, 0) == [change(1), change(2)]  # ... but the write was made: its events go out


def test_the_publisher_takes_in_order_in_batches_and_waits_for_the_first(redis_url: str) -> None:
    key = own_key()
    client = redisconn.connect(redis_url, timeout_s=3)
    queue = HandOffQueue(client, key=key)
    client.rpush(key, *(change(v).encode() for v in range(1, 6)), b"garbage")
    assert [c.version for c in queue.take(3, 1.0)] == [1, 2, 3]
    assert [c.version for c in queue.take(10, 1.0)] == [4, 5]  # what cannot be read is dropped, not retried
    began = time.monotonic()
    assert queue.take(10, 0.3) == []  # nothing came within the wait
    assert 0.25 <= time.monotonic() - began < 2
    threading.Timer(0.2, lambda: client.rpush(key, change(6).encode())).start()
    began = time.monotonic()
    assert [c.version for c in queue.take(10, 2.0)] == [6]  # woken by the push, not at the end of the wait
    assert time.monotonic() - began < 1.5
    assert client.llen(key) == 0


def test_a_list_nobody_takes_from_keeps_only_its_newest(redis_client: redis.Redis) -> None:
    key = own_key()
    lock = SlotLock(redis_client, hand_off_key=key, hand_off_max=3)
    for version in range(1, 6):
        held = lock.acquire("slot-h")
        assert isinstance(held, Held)
        lock.release("slot-h", held.owner, change(version).encode())
    assert [c.version for c in HandOffQueue(redis_client, key=key).take(10, 0)] == [3, 4, 5]
