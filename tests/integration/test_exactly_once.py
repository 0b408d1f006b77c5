"""Exactly once across faults: a keyed booking with Redis or MongoDB lost at every step of it.

A keyed booking makes four calls, in order: MongoDB find, Redis EVAL (lock), MongoDB update
(the conditional replace), Redis EVAL (release). The wrappers below sit around the real clients
of a real redis-server and nx-27017 and make one dependency die at one of those calls: before it
is sent, or after the server ran it with the reply lost. From then on every call to that
dependency fails, until it comes back: during the request (a blip, a failover) or only after the
request has been answered (an outage). Then the client repeats with the same key, as it should.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import redis
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from devserver.servers import mongo_server, redis_server
from opd import lock as lock_module
from opd import redisconn
from opd import store as store_module
from opd.api.errors import status_of
from opd.domain import Slot, Source
from opd.errors import IdempotencyConflict, OpdError, OutcomeUnknown, SlotBusy
from opd.lock import SlotLock
from opd.mongo import Document
from opd.service import Allocator, Booked, RequestKey
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow

T = TypeVar("T")
CALLS = ("mongo find", "redis lock", "mongo update", "redis release")  # a keyed booking, uncontended
REPEATS = 4  # of each (dependency, call, before/after, blip/outage): 2 x 4 x 2 x 2 x 4 = 128 bookings


@dataclass
class Fault:
    """`dependency` dies at call number `at_call` of the next request: before it is sent, or after
    it ran (its reply lost). It comes back `back_after_s` later, or when `restore()` is called."""

    dependency: str = ""
    at_call: int = -1
    after: bool = False
    back_after_s: float | None = None
    calls: list[str] = field(default_factory=list)
    died_at: float | None = None

    def arm(self, dependency: str, at_call: int, after: bool, back_after_s: float | None) -> None:
        self.dependency, self.at_call, self.after, self.back_after_s = dependency, at_call, after, back_after_s
        self.calls, self.died_at = [], None

    def restore(self) -> None:
        self.dependency, self.died_at = "", None

    def down(self, dependency: str) -> bool:
        if dependency != self.dependency or self.died_at is None:
            return False
        return self.back_after_s is None or time.monotonic() < self.died_at + self.back_after_s

    def around(self, dependency: str, name: str, send: Callable[[], T]) -> T:
        index = len(self.calls)
        self.calls.append(f"{dependency} {name}")
        if index == self.at_call and not self.after:
            self.died_at = time.monotonic()
        if self.down(dependency):
            raise unreachable(dependency, sent=False)
        reply = send()
        if index == self.at_call and self.after:
            self.died_at = time.monotonic()
            if dependency == self.dependency:  # it ran on the server; the reply is lost on the way back
                raise unreachable(dependency, sent=True)
        return reply


def unreachable(dependency: str, sent: bool) -> Exception:
    """What the drivers raise: refused before sending, or a connection lost before the reply came."""
    if dependency == "redis":
        return redis.TimeoutError("Timeout reading from socket") if sent else redis.ConnectionError("refused")
    return AutoReconnect("connection closed") if sent else ServerSelectionTimeoutError("no server available")


class FaultyRedis(redis.Redis):
    fault: Fault

    def execute_command(self, *args: Any, **options: Any) -> Any:
        send = super().execute_command
        name = "lock" if args[0] == "EVAL" and args[1] == lock_module.ACQUIRE else str(args[0]).lower()
        if args[0] == "EVAL" and args[1] == lock_module.RELEASE_IF_OWNER:
            name = "release"
        return self.fault.around("redis", name, lambda: send(*args, **options))  # type: ignore[no-untyped-call]


class FaultyCollection:
    """The slots collection, with the two calls a booking makes going through the fault."""

    def __init__(self, collection: Collection[Document], fault: Fault) -> None:
        self.collection, self.fault = collection, fault

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return self.fault.around("mongo", "find", lambda: self.collection.find_one(*args, **kwargs))

    def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return self.fault.around("mongo", "update", lambda: self.collection.replace_one(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


@dataclass(frozen=True)
class Outcome:
    point: str
    first: int  # the HTTP status the first attempt was answered with
    unknown: bool  # that answer was the 503 "outcome unknown"
    written_before_retry: bool
    same_booking_on_retry: bool | None  # None when the first answer was no booking
    retry: int
    bookings_of_patient: int


@pytest.fixture
def clients(redis_url: str, mongo_uri: str, database_name: str) -> Iterator[tuple[Allocator, Allocator, Fault]]:
    """An allocator whose Redis and MongoDB calls go through a Fault, and a clean one to look with."""
    fault = Fault()
    faulty_redis = FaultyRedis.from_url(redis_url, socket_timeout=0.5)
    assert isinstance(faulty_redis, FaultyRedis)
    faulty_redis.fault = fault
    mongo = store_module.connect(mongo_uri)
    clean = SlotStore(mongo[database_name]["slots"])
    clean.ensure_indexes()
    faulty = SlotStore(cast(Collection[Document], FaultyCollection(clean.collection, fault)))
    # A short TTL: a lock left behind by a request that lost Redis costs its retry little.
    lock = SlotLock(faulty_redis, ttl_ms=300, wait_ms=100)
    allocator = Allocator(faulty, lock, Settings(), outcome_wait_s=1.0)
    observer = Allocator(clean, SlotLock(faulty_redis), Settings())
    yield allocator, observer, fault
    faulty_redis.close()
    mongo.close()


def attempt(book: Callable[[], Booked]) -> tuple[int, Booked | OpdError]:
    try:
        return 201, book()
    except OpdError as refused:
        return status_of(refused.code).value, refused


def retry_until_answered(book: Callable[[], Booked]) -> tuple[int, Booked | OpdError]:
    """A client repeating with the same key: a busy slot (a lock left behind) is waited out."""
    for _ in range(50):
        status, answer = attempt(book)
        if status != 429:
            return status, answer
        time.sleep(0.05)
    return status, answer


def test_every_faulted_keyed_booking_is_answered_truly_and_its_repeat_returns_it(
    clients: tuple[Allocator, Allocator, Fault], doctor_id: str
) -> None:
    allocator, observer, fault = clients
    start = datetime.now(UTC) + timedelta(hours=2)
    outcomes: list[Outcome] = []
    points = list(product(("redis", "mongo"), range(len(CALLS)), (False, True), (0.3, None)))
    for n, (dependency, at_call, after, back_after_s) in enumerate(points):
        point = f"{dependency} dies {'after' if after else 'before'} {CALLS[at_call]}, " + (
            "back in 0.3 s" if back_after_s else "back after the answer"
        )
        for r in range(REPEATS):
            # A slot of its own, with others' bookings in it: no lock left by an earlier case shifts the steps.
            at = start + timedelta(hours=n * REPEATS + r)
            slot = observer.create_slot(doctor_id, at, at + timedelta(hours=1))
            for other in range(r):
                observer.book(slot.slot_id, f"other-{other}", Source.WALKIN)
            patient, key = f"patient-{r}", RequestKey(key=uuid.uuid4().hex, body=uuid.uuid4().hex)

            def book(slot_id: str = slot.slot_id, patient: str = patient, key: RequestKey = key) -> Booked:
                return allocator.book_once(slot_id, patient, Source.ONLINE, key)

            fault.arm(dependency, at_call, after, back_after_s)
            first, answer = attempt(book)
            assert fault.died_at is not None, f"{point}: the fault never fired; calls were {fault.calls}"
            fault.restore()
            written = [b for b in observer.get_slot(slot.slot_id).bookings if b.patient_id == patient]
            retry, again = retry_until_answered(book)
            mine = [b for b in observer.get_slot(slot.slot_id).bookings if b.patient_id == patient]
            outcomes.append(
                Outcome(
                    point=point,
                    first=first,
                    unknown=isinstance(answer, OutcomeUnknown),
                    written_before_retry=bool(written),
                    same_booking_on_retry=(
                        None
                        if not isinstance(answer, Booked) or not isinstance(again, Booked)
                        else (again.booking.booking_id, again.booking.token)
                        == (answer.booking.booking_id, answer.booking.token)
                    ),
                    retry=retry,
                    bookings_of_patient=len(mine),
                )
            )

    assert len(outcomes) == len(points) * REPEATS >= 100
    assert {o.first for o in outcomes} <= {201, 503}, "only a booking or 'unavailable', never 409/429/5xx"
    written_503s = [o for o in outcomes if o.first == 503 and o.written_before_retry and not o.unknown]
    assert written_503s == [], "a booking that was written was answered 503"
    failed_retries = [o for o in outcomes if o.retry != 201 or o.same_booking_on_retry is False]
    assert failed_retries == [], "a repeat with the same key did not return its booking"
    assert [o for o in outcomes if o.bookings_of_patient != 1] == [], "a key booked twice, or not at all"
    # The one answer that cannot be known: MongoDB applied the write, lost the reply and stayed away
    # past the request's wait. It says so (503, outcome unknown), and its repeat returns the booking.
    unknown = {o.point for o in outcomes if o.unknown}
    assert unknown == {"mongo dies after mongo update, back after the answer"}
    assert all(o.written_before_retry for o in outcomes if o.unknown)
    # A dependency back within the request's wait costs nothing: every such booking is answered 201
    # unless it died before anything was written (503 "nothing was written", and true).
    blips = [o for o in outcomes if "back in" in o.point]
    assert all(o.first == 201 or not o.written_before_retry for o in blips)
    assert not any(o.unknown for o in blips)
    for point in dict.fromkeys(o.point for o in outcomes):  # with -s: what each fault was answered
        print(f"{point:<58} first {sorted(o.first for o in outcomes if o.point == point)}")
    print(
        f"\n{len(outcomes)} faulted keyed bookings: {sum(o.first == 201 for o in outcomes)} answered 201, "
        f"{sum(o.first == 503 for o in outcomes)} answered 503 (nothing written: "
        f"{sum(o.first == 503 and not o.written_before_retry for o in outcomes)}, outcome unknown: "
        f"{len([o for o in outcomes if o.unknown])}); written but answered 503: {len(written_503s)}; "
        f"failed retries: {len(failed_retries)}"
    )


# -- the same with real servers stopped and started ------------------------------------------------


class KillingCollection:
    """The slots collection, stopping a real server at one step of the next booking, as a crash would."""

    def __init__(self, collection: Collection[Document], kill: Callable[[], None], at: str) -> None:
        self.collection, self.kill, self.at = collection, kill, at

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        found = self.collection.find_one(*args, **kwargs)
        self._kill_if("after read")
        return found

    def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        result = self.collection.replace_one(*args, **kwargs)
        if self._kill_if("after write"):  # applied; the server dies before the reply is read
            raise AutoReconnect("connection closed")
        self._kill_if("after write, before release")
        return result

    def _kill_if(self, step: str) -> bool:
        if self.at != step:
            return False
        self.at = "done"
        self.kill()
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


@pytest.mark.parametrize(
    ("dependency", "at", "back_after_s", "first_status"),
    [
        ("redis", "after read", None, 503),  # the lock cannot be taken: nothing written
        ("redis", "after write, before release", None, 201),  # the case
        ("mongo", "after read", None, 503),  # nothing written
        ("mongo", "after write", 0.1, 201),  # restarted within the wait (a failover): learnt and answered
        ("mongo", "after write", None, 503),  # stays down: "outcome unknown", and the repeat tells
    ],
)
def test_real_servers_stopped_mid_keyed_booking(
    tmp_path: Path, dependency: str, at: str, back_after_s: float | None, first_status: int
) -> None:
    redis_srv = redis_server(tmp_path / "redis").start()
    mongo_srv = mongo_server(tmp_path / "mongo", persist=True).start()  # data outlive the restart
    server = redis_srv if dependency == "redis" else mongo_srv
    restart = threading.Timer(back_after_s or 0, server.start)
    try:
        mongo = store_module.connect(mongo_srv.url, timeout_ms=500)
        clean = SlotStore(mongo["opd"]["slots"])
        clean.ensure_indexes()
        observer = Allocator(clean, SlotLock(redisconn.connect(redis_srv.url)), Settings())
        start = datetime.now(UTC) + timedelta(hours=1)
        slot = observer.create_slot("dr-crash", start, start + timedelta(hours=1))

        def kill() -> None:
            server.stop()
            if back_after_s is not None:
                restart.start()

        killing = SlotStore(cast(Collection[Document], KillingCollection(clean.collection, kill, at)))
        allocator = Allocator(killing, observer.lock, Settings(), outcome_wait_s=2.0 if back_after_s else 0.3)
        key = RequestKey(key=uuid.uuid4().hex, body=uuid.uuid4().hex)

        def book() -> Booked:
            return allocator.book_once(slot.slot_id, "patient-1", Source.ONLINE, key)

        status, answer = attempt(book)
        assert status == first_status, answer
        if back_after_s is not None:
            restart.join()
        else:
            server.start()
        _wait_for(lambda: observer.get_slot(slot.slot_id))
        written = observer.get_slot(slot.slot_id).bookings
        # A 503 says "nothing was written", except the one that says the outcome is unknown (MongoDB
        # went away with the write in flight: a dead server's broken connection cannot tell which).
        assert not (status == 503 and written and not isinstance(answer, OutcomeUnknown))
        assert not isinstance(answer, OutcomeUnknown) or dependency == "mongo"
        retry, again = retry_until_answered(book)
        assert retry == 201 and isinstance(again, Booked), again
        if isinstance(answer, Booked):
            assert again.booking == answer.booking
        assert [b.booking_id for b in observer.get_slot(slot.slot_id).bookings] == [again.booking.booking_id]
        mongo.close()
    finally:
        restart.cancel()
        redis_srv.stop()
        mongo_srv.stop()


def _wait_for(read: Callable[[], object], timeout_s: float = 10.0) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        try:
            read()
            return
        except OpdError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


# -- duplicates in flight, and one key for two slots -----------------------------------------------


class PausingStore(SlotStore):
    """Holds the first conditional write until told to go on: a request stalled with the lock held."""

    def __init__(self, store: SlotStore) -> None:
        super().__init__(store.collection)
        self.paused, self.resume = threading.Event(), threading.Event()

    def replace(self, slot: Slot, read_version: int) -> bool:
        if not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(timeout=30)
        return super().replace(slot, read_version)


@pytest.mark.parametrize("stall_s", [0.05, 0.5])  # within the lock's TTL (0.2 s), and past it
def test_a_duplicate_in_flight_gets_the_first_booking(
    slot_store: SlotStore, redis_client: redis.Redis, doctor_id: str, stall_s: float
) -> None:
    lock = SlotLock(redis_client, ttl_ms=200, wait_ms=1000)
    pausing = PausingStore(slot_store)
    first_allocator = Allocator(pausing, lock, Settings())
    second_allocator = Allocator(slot_store, lock, Settings())
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = second_allocator.create_slot(doctor_id, start, start + timedelta(hours=1))
    key = RequestKey(key=uuid.uuid4().hex, body=uuid.uuid4().hex)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(first_allocator.book_once, slot.slot_id, "patient-1", Source.ONLINE, key)
        assert pausing.paused.wait(10)
        threading.Timer(stall_s, pausing.resume.set).start()
        # Within the TTL the duplicate waits for the lock and then finds the first's booking; past
        # it, the duplicate books and the stalled first loses its write and finds the duplicate's.
        second = second_allocator.book_once(slot.slot_id, "patient-1", Source.ONLINE, key)
        first_booked = first.result(timeout=30)

    assert first_booked.booking == second.booking
    assert sorted([first_booked.replayed, second.replayed]) == [False, True]
    assert len(second_allocator.get_slot(slot.slot_id).bookings) == 1


def test_one_key_sent_for_two_slots_at_once_books_at_most_once(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    slots = [allocator.create_slot(doctor_id, soon + timedelta(hours=h), soon + timedelta(hours=h + 1)) for h in (0, 1)]
    key = uuid.uuid4().hex
    barrier = threading.Barrier(2)

    def book(slot_id: str) -> str:
        barrier.wait()
        request = RequestKey(key=key, body=f"body-for-{slot_id}")
        try:
            return allocator.book(slot_id, "patient-1", Source.ONLINE, request).booking_id
        except (IdempotencyConflict, SlotBusy) as refused:
            return refused.code

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(book, [s.slot_id for s in slots]))
    assert sorted(a == "IDEMPOTENCY_CONFLICT" for a in answers) == [False, True]
    assert sum(len(allocator.get_slot(s.slot_id).bookings) for s in slots) == 1
