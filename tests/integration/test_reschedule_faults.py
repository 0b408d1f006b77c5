"""Reschedules whose service process is killed between two of the writes, on real redis-server and nx-27017.

Each reschedule runs in a process of its own, which `os._exit`s right after its n-th write reached
MongoDB: no handler, no `finally`, its Redis lock left to expire, as when a Lambda is killed. Then
the same request is repeated, or the sweeper runs, and afterwards every patient holds exactly one
place: the new one if the move was made, the old one if the target refused it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from pymongo import MongoClient

from opd import domain, redisconn
from opd import store as store_module
from opd.domain import Booking, CancelReason, Capacity, Slot, Source, Status
from opd.errors import OpdError, SlotBusy, SlotFull
from opd.lock import SlotLock
from opd.mongo import Document
from opd.service import Allocator, ReschedulesReport
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow

KILLED = 77  # the exit code of a process killed at its planned point
ONE_PLACE = Capacity(base=1, premium_buffer=0, emergency_buffer=0)
CHILD_LOCK_TTL_MS = 100  # what a killed process's lock costs whoever comes next


@dataclass(frozen=True)
class Kill:
    name: str
    die_after: int  # the process dies right after its n-th write: 1 the mark, 2 the new booking or the refusal
    fill_target: str  # "" never; "before recovery": another patient takes the place after the kill;
    # "after the mark": the killed process's target is taken between its mark and its write 2
    moved: bool  # what the patient must end with: the new place (True) or the old one


KILLS = [
    Kill("after the mark", 1, "", moved=True),
    Kill("after the new booking", 2, "", moved=True),
    Kill("after the old booking is cancelled", 3, "", moved=True),
    Kill("after the mark, then the target fills", 1, "before recovery", moved=False),
    Kill("after the target's refusal is recorded", 2, "after the mark", moved=False),
]
RECOVERIES = ["repeat", "sweep"]
REPEATS = 6  # 5 kills x 2 recoveries x 6 = 60 reschedules


class DyingStore(SlotStore):
    """The killed process's store: dies right after its `die_after`-th write reached MongoDB."""

    def __init__(self, *args: Any, die_after: int, fill_after_mark: str | None) -> None:
        super().__init__(*args)
        self.die_after, self.fill_after_mark, self.writes = die_after, fill_after_mark, 0

    def replace(self, slot: Slot, read_version: int) -> bool:
        written = super().replace(slot, read_version)
        if written:
            self.writes += 1
            if self.writes == 1 and self.fill_after_mark:
                self._another_patient_takes_the_place(self.fill_after_mark)
            if self.writes == self.die_after:
                os._exit(KILLED)
        return written

    def _another_patient_takes_the_place(self, slot_id: str) -> None:
        target = self.get(slot_id)
        assert target is not None
        taken, _ = domain.book(target, f"{slot_id}.blocker", "blocker", Source.WALKIN, datetime.now(UTC), 20)
        assert SlotStore.replace(self, taken, target.version)  # not this request's write: not counted


def reschedule_and_die(
    mongo_uri: str, database: str, redis_url: str, booking_id: str, target_id: str, kill: Kill
) -> None:
    """The service process: one reschedule, killed at `kill`'s point (exit code KILLED)."""
    fill = target_id if kill.fill_target == "after the mark" else None
    store = DyingStore(
        store_module.connect(mongo_uri)[database]["slots"], die_after=kill.die_after, fill_after_mark=fill
    )
    lock = SlotLock(redisconn.connect(redis_url), ttl_ms=CHILD_LOCK_TTL_MS, wait_ms=2000)
    Allocator(store, lock, Settings()).reschedule(booking_id, target_id, by="patient")
    os._exit(0)  # it was meant to die before answering


@dataclass
class Case:
    kill: Kill
    recovery: str
    old: Booking
    target_id: str
    new_id: str = ""  # the id in the mark the killed process left
    answer: Booking | str = ""  # the repeat's answer: the new booking or a refusal's code


def repeat(allocator: Allocator, case: Case) -> Booking | str:
    """The client repeating the request: a slot still locked by the killed process is waited out."""
    for _ in range(50):
        try:
            return allocator.reschedule(case.old.booking_id, case.target_id, by="patient")
        except SlotBusy:
            time.sleep(0.05)
        except OpdError as refused:
            return refused.code
    raise AssertionError(f"{case.old.booking_id} stayed busy")


@pytest.fixture
def forkserver(monkeypatch: pytest.MonkeyPatch) -> multiprocessing.context.ForkServerContext:
    """Processes forked from a server that imported the service once (~10 ms each, no client inherited).

    The server finds the modules by PYTHONPATH: Python 3.13's forkserver does not apply our sys.path.
    """
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["opd.service", "opd.store", "opd.lock", "pymongo", "redis", __name__])
    return context


def kill_mid_reschedule(
    context: multiprocessing.context.ForkServerContext, allocator: Allocator, servers: tuple[str, str, str], case: Case
) -> None:
    """Run the request in a process of its own, killed at its point; check it died where planned."""
    mongo_uri, database, redis_url = servers
    args = (mongo_uri, database, redis_url, case.old.booking_id, case.target_id, case.kill)
    process = context.Process(target=reschedule_and_die, args=args)
    process.start()
    process.join(timeout=30)
    assert process.exitcode == KILLED, f"{case.kill.name}: exit code {process.exitcode}"
    marked = allocator.get_booking(case.old.booking_id)
    assert marked.rescheduled_to is not None and marked.rescheduled_to.startswith(f"{case.target_id}.")
    case.new_id = marked.rescheduled_to
    left = allocator.get_slot(case.target_id)
    # Where it died: the mark only; the new booking too; the old one cancelled; or the refusal recorded.
    assert marked.rescheduling == (case.kill.die_after < 3)
    assert (left.booking(case.new_id) is not None) == (case.kill.die_after >= 2 and case.kill.moved)
    assert (left.refused_reschedule(case.new_id) is not None) == (case.kill.fill_target == "after the mark")


def sweep_until_no_move_is_pending(allocator: Allocator, slot_store: SlotStore) -> Counter[str]:
    """Sweeper runs, as many as the locks the killed processes left take to expire."""
    swept: Counter[str] = Counter()
    for _ in range(50):
        report = allocator.sweep_no_shows()
        swept.update(finished=report.reschedules_finished, abandoned=report.reschedules_abandoned, busy=report.busy)
        if not list(slot_store.slots_with_reschedules(100)):
            return swept
        time.sleep(0.05)
    raise AssertionError("a move is still pending")


def check_the_outcome(allocator: Allocator, case: Case) -> None:
    """The move was made whole (new place, old cancelled) or not at all (old place as it was)."""
    old = allocator.get_booking(case.old.booking_id)
    mine = [b for b in allocator.get_slot(case.target_id).bookings if b.patient_id == case.old.patient_id]
    if case.kill.moved:
        assert (old.status, old.cancel_reason, old.rescheduled_to) == (
            Status.CANCELLED,
            CancelReason.RESCHEDULED,
            case.new_id,
        ), case.kill.name
        assert [(b.booking_id, b.status, b.rescheduled_from) for b in mine] == [
            (case.new_id, Status.BOOKED, old.booking_id)
        ]
        assert isinstance(case.answer, Booking) and case.answer.booking_id == case.new_id, case.answer
    else:
        assert old == case.old, case.kill.name  # BOOKED, its token, no mark: as it was
        assert mine == [] and case.answer == SlotFull.code, case.answer


def test_reschedules_killed_between_writes_leave_every_patient_exactly_one_place(
    allocator: Allocator,
    slot_store: SlotStore,
    mongo_client: MongoClient[Document],
    mongo_uri: str,
    redis_url: str,
    database_name: str,
    doctor_id: str,
    forkserver: multiprocessing.context.ForkServerContext,
) -> None:
    began = time.monotonic()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    # Old places in a few shared slots; one target of one place per case, so that it can be filled.
    sources = [
        allocator.create_slot(doctor_id, start + timedelta(hours=h), start + timedelta(hours=h, minutes=30))
        for h in range(6)
    ]
    cases: list[Case] = []
    for n, (kill, recovery, _) in enumerate(product(KILLS, RECOVERIES, range(REPEATS))):
        at = start + timedelta(days=1, minutes=30 * n)
        target = allocator.create_slot(f"{doctor_id}-t", at, at + timedelta(minutes=30), ONE_PLACE)
        old = allocator.book(sources[n % len(sources)].slot_id, f"patient-{n}", Source.ONLINE, by="patient")
        cases.append(Case(kill, recovery, old, target.slot_id))

    # Every request is killed at its point; half are repeated by their client at once (meeting the
    # lock the dead process left), the rest are left to the sweeper.
    for case in cases:
        kill_mid_reschedule(forkserver, allocator, (mongo_uri, database_name, redis_url), case)
        if case.kill.fill_target == "before recovery":
            allocator.book(case.target_id, f"blocker-{case.target_id}", Source.WALKIN)
        if case.recovery == "repeat":
            case.answer = repeat(allocator, case)
    killed = time.monotonic()
    swept = sweep_until_no_move_is_pending(allocator, slot_store)
    by_sweep = [c for c in cases if c.recovery == "sweep" and c.kill.die_after < 3]
    assert (swept["finished"], swept["abandoned"]) == (
        sum(c.kill.moved for c in by_sweep),
        sum(not c.kill.moved for c in by_sweep),
    )
    for case in cases:  # their clients repeat too, later: the same answer either way
        if case.recovery == "sweep":
            case.answer = repeat(allocator, case)

    # Each patient holds exactly one place, in all the slots together.
    everything = [store_module.slot_from_doc(d) for d in mongo_client[database_name]["slots"].find()]
    places = Counter(b.patient_id for s in everything for b in s.bookings if b.holds_place)
    patients = {c.old.patient_id for c in cases}
    assert {p: places[p] for p in patients} == dict.fromkeys(patients, 1), "a patient with two places, or none"
    for case in cases:
        check_the_outcome(allocator, case)
    for slot in everything:  # the counts stored beside the bookings agree with them
        doc = slot_store.collection.find_one({"_id": slot.slot_id})
        assert doc is not None and (doc["booked"], doc["movesPending"]) == (slot.booked, False)
    print(
        f"\n{len(cases)} reschedules killed mid-way, half of them repeated, in {killed - began:.1f} s; "
        f"the sweeper finished {swept['finished']} and abandoned {swept['abandoned']} "
        f"(busy slots met: {swept['busy']}) in {time.monotonic() - killed:.1f} s"
    )


def test_the_store_finds_slots_with_moves_in_batches(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slots = [
        allocator.create_slot(doctor_id, soon + timedelta(hours=h), soon + timedelta(hours=h + 1)) for h in range(5)
    ]
    for n, slot in enumerate(slots[:3]):
        booking = allocator.book(slot.slot_id, f"patient-{n}", Source.ONLINE)
        read = allocator.get_slot(slot.slot_id)
        marked = domain.begin_reschedule(read, booking, f"{slots[4].slot_id}.moved{n}")
        assert slot_store.replace(marked, read.version)  # a request's write 1, and no more
    allocator.book(slots[3].slot_id, "patient-3", Source.ONLINE)

    def found() -> list[str]:
        return sorted(slot_store.slots_with_reschedules(batch_size=2))

    assert found() == sorted(s.slot_id for s in slots[:3])
    assert allocator.finish_reschedules() == ReschedulesReport(finished=3, abandoned=0, busy=0, complete=True)
    assert found() == []
    assert [b.booking_id for b in allocator.get_slot(slots[4].slot_id).bookings] == [
        f"{slots[4].slot_id}.moved{n}" for n in range(3)
    ]
