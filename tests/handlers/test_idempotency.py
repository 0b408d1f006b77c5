"""`Idempotency-Key` on POST /bookings: the first answer is replayed, never a second booking."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import redis

from devserver.servers import LocalServer
from opd.api import bookings, idempotency, resolver
from opd.api.auth import Caller, Role
from opd.api.models import CreateBookingRequest
from opd.contract import BookingOut
from opd.domain import Capacity, Slot, Source
from opd.errors import SlotBusy
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import current as current_settings
from opd.store import SlotStore
from tests.handlers.support import PATIENT, Answer, call, event, point_runtime_at


@pytest.fixture
def desk() -> str:
    """A receptionist of this test's own: keys are per caller, so no test replays another's answer."""
    return f"desk-{uuid.uuid4().hex[:8]}"


def post(desk: str, slot_id: str, key: str | None, patient_id: str = PATIENT) -> Answer:
    body = {"slotId": slot_id, "patientId": patient_id, "source": "ONLINE"}
    ev = event("create_booking", body=body, role="reception", user=desk, headers={"Idempotency-Key": key})
    return call("create_booking", ev)


def test_a_repeat_gets_the_first_answer_and_books_nothing_more(allocator: Allocator, slot: Slot, desk: str) -> None:
    first = post(desk, slot.slot_id, "key-1")
    again = post(desk, slot.slot_id, "key-1")
    assert first.status == again.status == 201
    assert again.body == first.body  # same bookingId, token, times
    assert allocator.get_slot(slot.slot_id).booked == 1


def test_the_same_key_with_another_body_is_a_conflict(allocator: Allocator, slot: Slot, desk: str) -> None:
    assert post(desk, slot.slot_id, "key-1").status == 201
    answer = post(desk, slot.slot_id, "key-1", patient_id="patient-2")
    assert (answer.status, answer.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert allocator.get_slot(slot.slot_id).booked == 1


def test_keys_are_per_caller(allocator: Allocator, slot: Slot, desk: str) -> None:
    assert post(desk, slot.slot_id, "key-1").status == 201
    other_desk = post(f"{desk}-next-door", slot.slot_id, "key-1")  # a request of its own, not a replay
    assert (other_desk.status, other_desk.code) == (409, "DUPLICATE_BOOKING")


def test_without_a_key_a_repeat_is_a_new_request(slot: Slot, desk: str) -> None:
    assert post(desk, slot.slot_id, None).status == 201
    assert post(desk, slot.slot_id, None).code == "DUPLICATE_BOOKING"


def test_a_definitive_refusal_is_replayed_even_after_room_appears(
    allocator: Allocator, doctor_id: str, soon: datetime, desk: str
) -> None:
    small = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 0, 0))
    held = allocator.book(small.slot_id, "patient-first", Source.ONLINE)
    refused = post(desk, small.slot_id, "key-full")
    assert (refused.status, refused.code) == (409, "SLOT_FULL")

    allocator.cancel(held.booking_id)
    again = post(desk, small.slot_id, "key-full")
    assert (again.status, again.body) == (409, refused.body)
    assert post(desk, small.slot_id, "a-new-key").status == 201  # the room was really there


def test_a_busy_slot_is_not_remembered(redis_client: redis.Redis, allocator: Allocator, slot: Slot, desk: str) -> None:
    redis_client.set(SlotLock.key(slot.slot_id), "someone-else", px=5_000)
    busy = post(desk, slot.slot_id, "key-busy")
    redis_client.delete(SlotLock.key(slot.slot_id))
    assert (busy.status, busy.code) == (429, "SLOT_BUSY")

    retried = post(desk, slot.slot_id, "key-busy")
    assert retried.status == 201
    assert post(desk, slot.slot_id, "key-busy").body == retried.body
    assert allocator.get_slot(slot.slot_id).booked == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there"])
def test_a_malformed_key_is_a_validation_error(slot: Slot, key: str, desk: str) -> None:
    answer = post(desk, slot.slot_id, key)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["idempotency-key"]  # header names are case-insensitive


def test_concurrent_duplicates_book_once(allocator: Allocator, slot: Slot, desk: str) -> None:
    """Threads stand in for Lambda environments (the Powertools resolver is not thread-safe, so they
    enter at the layer the create_booking handler calls, with the same key and body)."""
    request = CreateBookingRequest.model_validate({"slotId": slot.slot_id, "patientId": PATIENT, "source": "ONLINE"})
    reception = Caller(username=desk, roles=frozenset({Role.RECEPTION}))
    start = threading.Barrier(6)

    def attempt(_: int) -> BookingOut | str:
        start.wait()
        try:
            return bookings.book(request, reception, "key-race")
        except SlotBusy as busy:  # waited its bound for the lock (50 ms here): the client retries
            return busy.code

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))

    # No duplicate is refused as a duplicate: each waits for the lock and finds the first's booking.
    [only] = allocator.get_slot(slot.slot_id).bookings
    booked = [o for o in outcomes if isinstance(o, BookingOut)]
    assert booked and all(o == "SLOT_BUSY" for o in outcomes if not isinstance(o, BookingOut))
    assert {b.booking_id for b in booked} == {only.booking_id}
    assert bookings.book(request, reception, "key-race") == booked[0]


def test_the_same_key_for_another_slot_is_a_conflict(
    allocator: Allocator, slot: Slot, desk: str, doctor_id: str, soon: datetime
) -> None:
    other = allocator.create_slot(doctor_id, soon + timedelta(hours=1), soon + timedelta(hours=2))
    assert post(desk, slot.slot_id, "key-1").status == 201
    answer = post(desk, other.slot_id, "key-1")
    assert (answer.status, answer.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert allocator.get_slot(other.slot_id).bookings == ()


def test_a_repeat_after_a_cancel_gets_the_first_answer_and_books_nothing_more(
    allocator: Allocator, slot: Slot, desk: str
) -> None:
    first = post(desk, slot.slot_id, "key-1")
    allocator.cancel(first.body["bookingId"])
    again = post(desk, slot.slot_id, "key-1")
    # As answered then (BOOKED, the same token), but for where it stands in the queue: that is as of now.
    live = {"position", "estimatedCallAt"}
    assert again.status == 201
    assert {k: v for k, v in again.body.items() if k not in live} == {
        k: v for k, v in first.body.items() if k not in live
    }
    assert len(allocator.get_slot(slot.slot_id).bookings) == 1


def test_the_key_is_kept_with_the_booking_so_a_repeat_needs_no_redis_record(
    redis_client: redis.Redis, allocator: Allocator, slot: Slot, desk: str
) -> None:
    first = post(desk, slot.slot_id, "key-1")
    body = {"slotId": slot.slot_id, "patientId": PATIENT, "source": "ONLINE"}
    record = SlotLock.record_key(idempotency.request_key(caller=desk, key="key-1", body=body).key)
    assert redis_client.delete(record) == 1  # Redis lost the record (restarted without persistence)
    assert post(desk, slot.slot_id, "key-1").body == first.body
    assert len(allocator.get_slot(slot.slot_id).bookings) == 1


def test_redis_lost_after_the_write_answers_the_booking_and_every_repeat_gets_it(
    monkeypatch: pytest.MonkeyPatch, private_servers: tuple[LocalServer, LocalServer], soon: datetime, desk: str
) -> None:
    """The issue's case: the booking was written, then Redis went away (the lock's release fails)."""
    redis_srv, mongo_srv = private_servers
    point_runtime_at(monkeypatch, redis_srv.url, mongo_srv.url, "opd")
    slot = resolver.allocator().create_slot("dr-lost-redis", soon, soon + timedelta(hours=1))
    write = SlotStore.replace

    def write_then_lose_redis(store: SlotStore, changed: Slot, read_version: int) -> bool:
        written = write(store, changed, read_version)
        redis_srv.stop()
        return written

    monkeypatch.setattr(SlotStore, "replace", write_then_lose_redis)
    first = post(desk, slot.slot_id, "key-lost")
    monkeypatch.setattr(SlotStore, "replace", write)
    assert (first.status, first.body.get("token")) == (201, 1), first.body

    while_down = post(desk, slot.slot_id, "key-lost")  # a repeat is one MongoDB read
    redis_srv.start()
    after = post(desk, slot.slot_id, "key-lost")
    assert (while_down.status, while_down.body) == (after.status, after.body) == (201, first.body)
    assert len(resolver.allocator().get_slot(slot.slot_id).bookings) == 1


def test_keys_live_as_long_as_configured(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis, slot: Slot, desk: str
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "7200")
    current_settings.cache_clear()  # read again, as a new execution environment would
    assert post(desk, slot.slot_id, "key-ttl").status == 201
    body = {"slotId": slot.slot_id, "patientId": PATIENT, "source": "ONLINE"}
    record = SlotLock.record_key(idempotency.request_key(caller=desk, key="key-ttl", body=body).key)
    assert 7100 < int(redis_client.ttl(record)) <= 7200


def test_a_ttl_under_the_contracts_hour_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "60")
    current_settings.cache_clear()
    with pytest.raises(RuntimeError, match="at least 3600"):
        idempotency.ttl_seconds()
