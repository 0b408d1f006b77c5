"""A Redis that stalls (its process stopped with SIGSTOP, then continued) during a keyed booking.

A stalled Redis still runs what it received once it resumes, including commands of requests that
gave up long before. The promise: a request gives up within about a second, releases what it
still can, leaves nothing that blocks the next request longer than the lock's TTL, and its
client's retry with the same key succeeds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from devserver.servers import LocalServer
from opd.api import resolver
from opd.domain import Slot
from opd.lock import SlotLock
from opd.store import SlotStore
from tests.handlers.support import Answer, call, event, point_runtime_at

pytestmark = pytest.mark.slow

STALL_S = 3.0  # far longer than a request may hold its caller
TTL_S = 2.0  # the lock's default TTL (LOCK_TTL_MS)


class Stall:
    """Stops a redis-server's process now and continues it `STALL_S` later (always, in the end)."""

    def __init__(self, server: LocalServer) -> None:
        assert server.process is not None
        self.pid = server.process.pid
        self.resumed = threading.Event()
        self.timer = threading.Timer(STALL_S, self.resume)

    def start(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.timer.start()

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.resumed.set()

    def finish(self) -> None:
        self.timer.cancel()
        self.resume()


@pytest.fixture
def stalled_runtime(
    monkeypatch: pytest.MonkeyPatch, private_servers: tuple[LocalServer, LocalServer], soon: datetime
) -> Iterator[tuple[Stall, redis.Redis, Slot]]:
    redis_srv, mongo_srv = private_servers
    point_runtime_at(monkeypatch, redis_srv.url, mongo_srv.url, "opd")
    monkeypatch.delenv("LOCK_WAIT_MS")  # the deployed bounded wait (300 ms) and TTL (2 s)
    slot = resolver.allocator().create_slot("dr-stall", soon, soon + timedelta(hours=1))
    stall = Stall(redis_srv)
    looker = redis.Redis.from_url(redis_srv.url)
    yield stall, looker, slot
    stall.finish()
    looker.close()


def post(slot_id: str, patient_id: str, key: str) -> Answer:
    body = {"slotId": slot_id, "patientId": patient_id, "source": "WALKIN"}
    return call(
        "create_booking", event("create_booking", body=body, role="reception", headers={"Idempotency-Key": key})
    )


def retried_until_booked(slot_id: str, patient_id: str, key: str, give_up_s: float) -> tuple[Answer, float]:
    """A client honouring 429 (a lock still held) by trying again; returns the answer and when it came."""
    give_up_at = time.monotonic() + give_up_s
    while True:
        answer = post(slot_id, patient_id, key)
        if answer.status != 429 or time.monotonic() > give_up_at:
            return answer, time.monotonic()
        time.sleep(0.05)


def no_lock_outlives_its_ttl(looker: redis.Redis, slot: Slot) -> None:
    ttl_ms = looker.pttl(SlotLock.key(slot.slot_id))
    assert ttl_ms == -2 or 0 < ttl_ms <= TTL_S * 1000  # gone, or expiring within the TTL; never kept


def test_a_stall_while_taking_the_lock(stalled_runtime: tuple[Stall, redis.Redis, Slot]) -> None:
    stall, looker, slot = stalled_runtime
    assert post(slot.slot_id, "warm-up", "key-warm-up").status == 201  # connections made, as in a warm Lambda

    stall.start()
    began = time.monotonic()
    first = post(slot.slot_id, "patient-1", "key-stalled")
    gave_up_after = time.monotonic() - began
    assert (first.status, first.code) == (503, "DEPENDENCY_UNAVAILABLE")
    assert gave_up_after < 1.5, "a request waits at most its socket timeouts, not the stall"

    assert stall.resumed.wait(10)
    resumed_at = time.monotonic()
    time.sleep(0.1)  # Redis runs what it had received: the stalled request's lock script among it
    no_lock_outlives_its_ttl(looker, slot)
    again, answered_at = retried_until_booked(slot.slot_id, "patient-1", "key-stalled", give_up_s=TTL_S + 1)
    assert again.status == 201, again.body
    assert answered_at - resumed_at < TTL_S + 0.5
    assert post(slot.slot_id, "patient-1", "key-stalled").body == again.body
    assert [b.patient_id for b in resolver.allocator().get_slot(slot.slot_id).bookings] == ["warm-up", "patient-1"]


def test_a_stall_after_the_write_answers_the_booking(
    monkeypatch: pytest.MonkeyPatch, stalled_runtime: tuple[Stall, redis.Redis, Slot]
) -> None:
    stall, looker, slot = stalled_runtime
    assert post(slot.slot_id, "warm-up", "key-warm-up").status == 201
    write = SlotStore.replace

    def write_then_stall(store: SlotStore, *args: Any) -> bool:
        written = write(store, *args)
        stall.start()
        return written

    monkeypatch.setattr(SlotStore, "replace", write_then_stall)
    began = time.monotonic()
    first = post(slot.slot_id, "patient-1", "key-stalled")
    answered_after = time.monotonic() - began
    monkeypatch.setattr(SlotStore, "replace", write)
    assert (first.status, first.body.get("token")) == (201, 2), first.body
    assert answered_after < 1.5, "the release gave up at its socket timeout"

    assert post(slot.slot_id, "patient-1", "key-stalled").body == first.body  # while stalled: one MongoDB read
    assert stall.resumed.wait(10)
    resumed_at = time.monotonic()
    time.sleep(0.1)
    no_lock_outlives_its_ttl(looker, slot)
    other, answered_at = retried_until_booked(slot.slot_id, "patient-2", "key-other", give_up_s=TTL_S + 1)
    assert (other.status, other.body.get("token")) == (201, 3), other.body
    assert answered_at - resumed_at < TTL_S + 0.5
