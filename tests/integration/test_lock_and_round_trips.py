"""The Redis mutex on a real server, and the round trips an uncontended booking costs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from benchmarks import round_trips
from opd import lock as lock_module
from opd import redisconn
from opd.domain import Relayed, Source
from opd.errors import DependencyUnavailable, SlotBusy
from opd.lock import SlotLock
from opd.ports import Held
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore
from tests.support.roundtrips import CountingRedis


def held(lock: SlotLock, slot_id: str) -> Held:
    acquired = lock.acquire(slot_id)
    assert isinstance(acquired, Held)
    return acquired


def test_the_lock_is_taken_with_the_ttl_and_released_only_by_its_owner(redis_client: redis.Redis) -> None:
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=50)
    owner = held(lock, "slot-lock-1").owner
    key = SlotLock.key("slot-lock-1")
    assert redis_client.get(key) == owner.encode()
    assert 0 < redis_client.pttl(key) <= 2000

    assert not lock.release("slot-lock-1", "somebody-else")
    assert redis_client.get(key) == owner.encode()
    assert lock.release("slot-lock-1", owner)
    assert redis_client.get(key) is None


def test_a_busy_slot_waits_a_bounded_time_then_says_retry(redis_client: redis.Redis) -> None:
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=300)
    held(lock, "slot-lock-2")
    began = time.monotonic()
    with pytest.raises(SlotBusy) as busy:
        lock.acquire("slot-lock-2")
    waited = time.monotonic() - began
    assert busy.value.retry_after_seconds >= 1
    assert 0.3 <= waited < 1.5  # waited its bound, and not the lock's whole TTL


def test_a_waiter_gets_the_lock_as_soon_as_it_is_released_and_reports_its_wait(redis_client: redis.Redis) -> None:
    waits: list[float] = []
    lock = SlotLock(redis_client, ttl_ms=2000, wait_ms=300, observe_wait=waits.append)
    first = held(lock, "slot-lock-3")
    redis_client.pexpire(SlotLock.key("slot-lock-3"), 100)  # the holder finishes soon
    second = held(lock, "slot-lock-3")
    assert second.owner != first.owner
    assert (first.waited, second.waited) == (False, True)  # a waiter knows what it read may be stale
    assert len(waits) == 2 and waits[0] < 50 and 100 <= waits[1] < 300


def test_round_trips_per_uncontended_operation(mongo_uri: str, redis_url: str, database_name: str) -> None:
    """The benchmark's own measurement, held to its targets: a key costs a booking nothing, its repeat
    is one read, and the lock is held for the lock, the write and the release alone (events are on:
    the release's script hands them to the publisher, so the request makes no PutEvents)."""
    figures = round_trips.measure(redis_url, mongo_uri, repeats=2, database=database_name)
    trips = {name: figure.by_command for name, figure in figures.items()}
    booking = {"mongo find": 1, "redis eval": 2, "mongo update": 1}  # read, lock, conditional replace, release
    assert trips["plain booking"] == trips["keyed booking"] == trips["cancel"] == booking
    assert trips["keyed repeat"] == trips["refusal"] == {"mongo find": 1}
    assert trips["keyed refusal"] == trips["keyed refusal repeat"] == {"mongo find": 1, "redis eval": 1}
    under_lock = {"redis eval (lock)": 1, "mongo update": 1, "redis eval (release)": 1}
    assert figures["plain booking"].held == figures["keyed booking"].held == figures["cancel"].held == under_lock
    assert all(figure.max_round_trips <= figure.target_max for figure in figures.values())
    assert all(figure.max_held <= figure.target_held for figure in figures.values())


class ReplyLosingRedis(redis.Redis):
    """Runs the next lock acquisition on the server, then loses its reply (a stall, a dropped link)."""

    lose_next_acquisition = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        reply = super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if self.lose_next_acquisition and args[:2] == ("EVAL", lock_module.ACQUIRE):
            self.lose_next_acquisition = False
            raise redis.TimeoutError("Timeout reading from socket")
        return reply


def test_an_acquisition_whose_reply_was_lost_leaves_no_lock_behind(
    redis_url: str, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    client = ReplyLosingRedis.from_url(redis_url, socket_timeout=0.5)
    assert isinstance(client, ReplyLosingRedis)
    allocator = Allocator(slot_store, SlotLock(client, ttl_ms=2000, wait_ms=300), Settings())
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))

    client.lose_next_acquisition = True
    with pytest.raises(DependencyUnavailable):
        allocator.book(slot.slot_id, "patient-1", Source.ONLINE)
    # The lock was set on the server; the request that gave up deleted it (it holds our owner token).
    assert client.get(SlotLock.key(slot.slot_id)) is None
    began = time.monotonic()
    assert allocator.book(slot.slot_id, "patient-1", Source.ONLINE).token == 1
    assert time.monotonic() - began < 0.25  # no wait for a lock nobody holds
    client.close()


def test_an_acquisition_repeated_by_its_owner_succeeds(redis_client: redis.Redis) -> None:
    """A reply lost and the command sent again (redis-py retries a dropped connection once) must not
    find its own lock and wait it out."""
    key, marker = SlotLock.key("slot-lock-4"), SlotLock.marker_key("slot-lock-4")
    for owner, locked in [("owner-1", True), ("owner-1", True), ("owner-2", False)]:
        reply = redis_client.eval(lock_module.ACQUIRE, 2, key, marker, owner, 2000)
        assert reply == [b"locked", b""] if locked else reply[0] == b"busy" and 0 < reply[1] <= 2000
    assert redis_client.get(key) == b"owner-1"


def test_the_relay_markers_script_merges_as_the_domain_does(redis_client: redis.Redis) -> None:
    """Requests publish out of order on a hot slot; the script adds what each published to the marker
    (`Relayed.merged`), and the next writer's lock brings the marker back."""
    lock = SlotLock(redis_client)
    news = [
        Relayed(through=0),
        Relayed(versions=frozenset({3})),
        Relayed(versions=frozenset({2})),
        Relayed(versions=frozenset({5, 7})),
        Relayed(versions=frozenset({1})),
        Relayed(through=2),
        Relayed(versions=frozenset({4})),
    ]
    expected = Relayed()
    for added in news:
        lock.record_published({"slot-lock-m": added, "slot-lock-n": Relayed(versions=frozenset({9}))})
        expected = expected.merged(added)
        assert lock.published_marks(["slot-lock-m", "slot-lock-none"]) == {"slot-lock-m": expected}
    assert expected == Relayed(5, frozenset({7}))
    assert held(lock, "slot-lock-m").relayed == expected
    assert held(lock, "slot-lock-n").relayed == Relayed(None, frozenset({9}))
    assert held(lock, "slot-lock-none").relayed == Relayed()
    assert 0 < redis_client.ttl(SlotLock.marker_key("slot-lock-m")) <= lock_module.MARKER_TTL_S


def test_a_release_wakes_the_waiter_at_once_and_waiting_sends_no_polls(redis_url: str) -> None:
    """The waiter blocks until the release (BLPOP), then takes the lock: three commands, whatever the wait."""
    counting = CountingRedis.from_url(redis_url)
    assert isinstance(counting, CountingRedis)
    holder_lock = SlotLock(redisconn.connect(redis_url), ttl_ms=2000, wait_ms=2000)
    first = held(holder_lock, "slot-lock-5")
    released_at: list[float] = []

    def release_later() -> None:
        time.sleep(0.2)
        released_at.append(time.monotonic())
        holder_lock.release("slot-lock-5", first.owner)

    releaser = threading.Thread(target=release_later)
    releaser.start()
    second = held(SlotLock(counting, ttl_ms=2000, wait_ms=2000), "slot-lock-5")
    got_it = time.monotonic()
    releaser.join()
    assert second.waited
    assert got_it - released_at[0] < 0.05  # handed over at the release, not at a later poll
    assert counting.commands == Counter({"redis eval": 2, "redis blpop": 1})  # acquire, block, acquire
    counting.close()


def test_waiters_get_the_lock_in_the_order_they_came(redis_client: redis.Redis, redis_url: str) -> None:
    """Redis serves blocked clients first come, first served: each release wakes the longest waiter."""
    lock = SlotLock(redis_client, ttl_ms=5000, wait_ms=3000)
    owner = held(lock, "slot-lock-6").owner
    order: list[int] = []

    def wait_then_hold(n: int) -> None:
        mine = SlotLock(redisconn.connect(redis_url), ttl_ms=5000, wait_ms=3000)
        taken = held(mine, "slot-lock-6")
        order.append(n)
        time.sleep(0.02)
        mine.release("slot-lock-6", taken.owner)

    waiters = []
    for n in range(4):
        waiters.append(threading.Thread(target=wait_then_hold, args=(n,)))
        waiters[-1].start()
        time.sleep(0.03)  # each one blocked before the next arrives (all within one block, MAX_BLOCK_S)
    lock.release("slot-lock-6", owner)
    for waiter in waiters:
        waiter.join()
    assert order == [0, 1, 2, 3]
