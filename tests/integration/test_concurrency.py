"""Racing writers: many processes and threads on one slot, and a lock holder that outlives its lock."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from opd import redisconn
from opd import store as store_module
from opd.domain import Slot, Source, Tier, tier_limits
from opd.errors import OpdError, SlotBusy, SlotFull
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow

PROCESSES, THREADS_PER_PROCESS = 4, 50
SOURCES = [Source.ONLINE, Source.WALKIN, Source.ONLINE, Source.PAID, Source.FOLLOWUP, Source.EMERGENCY]


def book_until_decided(allocator: Allocator, slot_id: str, patient_id: str, source: Source) -> dict[str, Any]:
    """A client that retries a busy slot, as the HTTP clients retry a 429."""
    busy = 0
    while True:
        try:
            booking = allocator.book(slot_id, patient_id, source)
            return {"source": source.value, "token": booking.token, "busy": busy}
        except SlotBusy:
            busy += 1
        except OpdError as refused:
            return {"source": source.value, "refused": refused.code, "details": refused.details, "busy": busy}


def booking_process(mongo_uri: str, database: str, redis_url: str, slot_id: str, worker: int) -> list[dict[str, Any]]:
    """One process = one execution environment: its own clients, many threads booking at once."""
    store = SlotStore(store_module.connect(mongo_uri)[database]["slots"])
    allocator = Allocator(store, SlotLock(redisconn.connect(redis_url)), Settings())
    barrier = threading.Barrier(THREADS_PER_PROCESS)

    def one(i: int) -> dict[str, Any]:
        barrier.wait()
        return book_until_decided(allocator, slot_id, f"w{worker}-p{i}", SOURCES[i % len(SOURCES)])

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        return list(pool.map(one, range(THREADS_PER_PROCESS)))


def test_200_concurrent_bookings_from_several_processes_hold_every_limit(
    allocator: Allocator, slot_store: SlotStore, database_name: str, mongo_uri: str, redis_url: str, doctor_id: str
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = allocator.create_slot(doctor_id, start, start + timedelta(hours=1))
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        args = [(mongo_uri, database_name, redis_url, slot.slot_id, w) for w in range(PROCESSES)]
        results = [r for batch in pool.starmap(booking_process, args) for r in batch]

    assert len(results) == PROCESSES * THREADS_PER_PROCESS
    booked = sorted((r for r in results if "token" in r), key=lambda r: r["token"])
    limits = tier_limits(slot.capacity, False, 20)
    # Tokens are unique and contiguous from 1; the slot ends exactly at the CRITICAL limit.
    assert [r["token"] for r in booked] == list(range(1, limits[Tier.CRITICAL] + 1))
    # Replaying the bookings in token order, each one was admitted while its tier had room.
    for r in booked:
        tier = {"ONLINE": Tier.STANDARD, "WALKIN": Tier.STANDARD, "PAID": Tier.PREMIUM, "FOLLOWUP": Tier.PREMIUM}
        assert r["token"] - 1 < limits[tier.get(r["source"], Tier.CRITICAL)]
    refusals = [r for r in results if "refused" in r]
    assert {r["refused"] for r in refusals} == {"SLOT_FULL"}
    assert all(d["booked"] >= d["limit"] for r in refusals for d in r["details"])

    stored = slot_store.get(slot.slot_id)
    assert stored is not None and stored.booked == len(booked) == limits[Tier.CRITICAL]
    doc = slot_store.collection.find_one({"_id": slot.slot_id})
    assert doc is not None and doc["booked"] == sum(1 for b in doc["bookings"] if b["status"] == "BOOKED")


class PausingStore(SlotStore):
    """Holds the first conditional write until told to go on: a lock holder stalled mid-decision."""

    def __init__(self, store: SlotStore) -> None:
        super().__init__(store.collection)
        self.paused, self.resume = threading.Event(), threading.Event()

    def replace(self, slot: Slot, read_version: int) -> bool:
        if not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(timeout=30)
        return super().replace(slot, read_version)


@pytest.mark.parametrize(("already_booked", "stalled_answer"), [(9, "SLOT_FULL"), (5, 7)])
def test_a_holder_stalled_past_the_ttl_never_overbooks_or_repeats_a_token(
    slot_store: SlotStore,
    redis_client: redis.Redis,
    doctor_id: str,
    already_booked: int,
    stalled_answer: str | int,
) -> None:
    # A short TTL keeps the test quick; the mechanism is the same as with the 2 s default.
    settings = Settings(lock_ttl_ms=200, lock_wait_ms=3000)
    quick = Allocator(slot_store, SlotLock(redis_client, ttl_ms=200, wait_ms=3000), settings)
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = quick.create_slot(doctor_id, start, start + timedelta(hours=1))
    for i in range(already_booked):
        quick.book(slot.slot_id, f"early-{i}", Source.ONLINE)

    stalling = PausingStore(slot_store)
    stalled = Allocator(stalling, SlotLock(redis_client, ttl_ms=200, wait_ms=3000), settings)
    outcome: dict[str, Any] = {}

    def stalled_booking() -> None:
        try:
            outcome["token"] = stalled.book(slot.slot_id, "stalled", Source.ONLINE).token
        except SlotFull as refused:
            outcome["refused"] = refused.code

    holder = threading.Thread(target=stalled_booking)
    holder.start()
    assert stalling.paused.wait(timeout=10)
    # The stalled holder's lock expires; a second request takes it and books.
    second = quick.book(slot.slot_id, "second", Source.ONLINE)
    assert second.token == already_booked + 1
    stalling.resume.set()
    holder.join(timeout=30)

    assert outcome == ({"refused": stalled_answer} if stalled_answer == "SLOT_FULL" else {"token": stalled_answer})
    final = slot_store.get(slot.slot_id)
    assert final is not None
    tokens = [b.token for b in final.bookings]
    assert len(tokens) == len(set(tokens)) and final.booked == len(tokens) <= 10


def test_two_sweeps_at_once_mark_each_no_show_exactly_once(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slots = [
        allocator.create_slot(doctor_id, soon + timedelta(hours=h), soon + timedelta(hours=h + 1)) for h in range(4)
    ]
    for slot in slots:
        for i in range(3):
            allocator.book(slot.slot_id, f"p{i}", Source.WALKIN)
    as_of = soon + timedelta(hours=6)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: allocator.sweep_no_shows(now=as_of), range(2)))
    # A sweep that met a busy slot leaves it for the next run; whatever is left, a third run takes.
    leftover = allocator.sweep_no_shows(now=as_of)
    assert sum(r.marked for r in reports) + leftover.marked == 12
    assert allocator.sweep_no_shows(now=as_of).marked == 0
    statuses = Counter(b.status.value for s in slots for b in allocator.get_slot(s.slot_id).bookings)
    assert statuses == Counter({"NO_SHOW": 12})
