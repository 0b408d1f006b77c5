"""Cancels and waitlist joins racing on one full slot from several processes (real redis-server and MongoDB).

Whatever order the writes land in, each place given back goes to the waitlist in the same write, so
afterwards no place a waitlisted booking's tier could have is left empty, the stored count agrees with
the bookings, every token is given once, and every answer a client got is what the slot holds.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import redisconn
from opd import store as store_module
from opd.domain import HOLDS_PLACE, SYSTEM, CancelReason, Capacity, Source, Status
from opd.errors import OpdError, SlotBusy
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow

PROCESSES, THREADS_PER_PROCESS = 4, 8
CAPACITY = Capacity(base=4, premium_buffer=2, emergency_buffer=2)  # STANDARD 4, PREMIUM 6, CRITICAL 8
PREFILLED = [Source.ONLINE] * 4 + [Source.PAID] * 2 + [Source.EMERGENCY] * 2  # every place taken
JOINING = [Source.ONLINE, Source.WALKIN, Source.PAID, Source.FOLLOWUP, Source.ONLINE, Source.EMERGENCY]


def until_decided(attempt: Any) -> dict[str, Any]:
    """A client that retries a busy slot, as the HTTP clients retry a 429."""
    while True:
        try:
            booking = attempt()
            return {"bookingId": booking.booking_id, "status": booking.status.value, "token": booking.token}
        except SlotBusy:
            continue
        except OpdError as refused:
            return {"refused": refused.code}


def racing_process(
    mongo_uri: str, database: str, redis_url: str, slot_id: str, to_cancel: list[str], worker: int
) -> list[dict[str, Any]]:
    """One execution environment: its own clients; each thread cancels a prefilled booking, joins the
    waitlist, or joins and then cancels what it got (waitlisted or promoted by then)."""
    store = SlotStore(store_module.connect(mongo_uri)[database]["slots"])
    allocator = Allocator(store, SlotLock(redisconn.connect(redis_url)), Settings())
    barrier = threading.Barrier(THREADS_PER_PROCESS)

    def one(i: int) -> dict[str, Any]:
        barrier.wait()
        if i < len(to_cancel):
            result = until_decided(lambda: allocator.cancel(to_cancel[i], by=f"desk-{worker}"))
            return {"kind": "cancel", **result}
        patient, source = f"w{worker}-p{i}", JOINING[(worker + i) % len(JOINING)]
        joined = until_decided(lambda: allocator.book(slot_id, patient, source, by=patient, waitlist=True))
        if i % 3 == 0 and "bookingId" in joined:
            cancel = until_decided(
                lambda: allocator.cancel(joined["bookingId"], by=patient, reason=CancelReason.PATIENT)
            )
            return {"kind": "join-and-cancel", "source": source.value, **joined, "cancelled": cancel}
        return {"kind": "join", "source": source.value, **joined}

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        return list(pool.map(one, range(THREADS_PER_PROCESS)))


def test_cancels_and_waitlist_joins_from_several_processes_leave_no_place_a_waitlisted_booking_could_have(
    allocator: Allocator, slot_store: SlotStore, database_name: str, mongo_uri: str, redis_url: str, doctor_id: str
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = allocator.create_slot(doctor_id, start, start + timedelta(hours=1), CAPACITY)
    prefilled = [allocator.book(slot.slot_id, f"early-{n}", source).booking_id for n, source in enumerate(PREFILLED)]
    # Each process cancels two of the prefilled bookings while its other threads join.
    shares = [prefilled[w * 2 : w * 2 + 2] for w in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        args = [(mongo_uri, database_name, redis_url, slot.slot_id, shares[w], w) for w in range(PROCESSES)]
        results = [r for batch in pool.starmap(racing_process, args) for r in batch]

    final = slot_store.get(slot.slot_id)
    assert final is not None
    limits = final.limits(allocator.settings.delay_reduction_percent)
    # No place is left empty while a waitlisted booking of a tier with room waits.
    assert all(final.booked >= limits[w.tier] for w in final.waitlist), (final.booked, [w.tier for w in final.waitlist])
    assert final.booked <= limits[max(limits, key=lambda tier: limits[tier])]
    assert len(final.waitlist) <= allocator.settings.waitlist_limit
    # The stored count agrees with the bookings; tokens are unique and contiguous, one per place ever given.
    doc = slot_store.collection.find_one({"_id": slot.slot_id})
    assert doc is not None and doc["booked"] == sum(1 for b in final.bookings if b.status in HOLDS_PLACE)
    tokens = sorted(b.token for b in final.bookings if b.token is not None)
    assert tokens == list(range(1, final.next_token))
    assert all(b.token is None for b in final.bookings if b.status is Status.WAITLISTED)

    # Every answer is what the slot holds.
    cancels = [r for r in results if r["kind"] == "cancel"]
    assert [r["status"] for r in cancels] == ["CANCELLED"] * len(prefilled)
    joins = [r for r in results if r["kind"] != "cancel"]
    assert {r.get("refused") for r in joins} <= {None, "WAITLIST_FULL"}
    made = {r["bookingId"]: r for r in joins if "bookingId" in r}
    assert len(final.bookings) == len(prefilled) + len(made)
    for booking_id, answered in made.items():
        held = final.booking(booking_id)
        assert held is not None
        assert held.history[0].status.value == answered["status"]  # answered as it was first written
        if answered["status"] == "WAITLISTED" and held.token is not None:
            assert [c.status for c in held.history[:2]] == [Status.WAITLISTED, Status.BOOKED]
            assert held.history[1].by == SYSTEM  # promoted by the write that gave a place back
        if answered["kind"] == "join-and-cancel":
            assert answered["cancelled"]["status"] == "CANCELLED" and held.status is Status.CANCELLED
            assert held.cancel_reason is CancelReason.PATIENT
    assert [b.cancel_reason for b in final.bookings if b.booking_id in prefilled] == [CancelReason.STAFF] * len(
        prefilled
    )
    # The race did what it is for: places were given back to waitlisted bookings.
    promoted = [b for b in final.bookings if b.history[0].status is Status.WAITLISTED and b.token is not None]
    outcome = Counter(r.get("status") or r.get("refused") for r in joins)
    assert promoted and outcome["WAITLISTED"], outcome
