"""Health and slot routes through their handlers: success shapes per the contract and their errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devserver.servers import LocalServer
from opd.domain import Slot, Source
from opd.service import Allocator
from tests.handlers.support import SLOT_KEYS, call, event, point_runtime_at

IST = timezone(timedelta(hours=5, minutes=30))


def z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def slot_body(doctor_id: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"doctorId": doctor_id, "start": start, "end": end, **extra}


def test_health_is_ok_when_both_stores_answer() -> None:
    answer = call("health")
    assert (answer.status, answer.body) == (200, {"status": "ok", "redis": "ok", "mongo": "ok"})


def test_health_names_the_part_that_is_down(
    monkeypatch: pytest.MonkeyPatch, private_servers: tuple[LocalServer, LocalServer]
) -> None:
    redis_srv, mongo_srv = private_servers
    point_runtime_at(monkeypatch, redis_srv.url, mongo_srv.url, "opd")
    redis_srv.stop()
    answer = call("health")
    assert (answer.status, answer.body) == (503, {"status": "down", "redis": "down", "mongo": "ok"})


def test_create_slot_answers_the_slot_in_utc(doctor_id: str, soon: datetime) -> None:
    start, end = soon.astimezone(IST), (soon + timedelta(minutes=45)).astimezone(IST)
    body = slot_body(doctor_id, start.isoformat(), end.isoformat(), baseCapacity=5, premiumBuffer=1)
    answer = call("create_slot", event("create_slot", body=body))

    assert answer.status == 201
    assert set(answer.body) == SLOT_KEYS
    assert answer.body["slotId"]
    assert answer.body["start"] == z(soon) and answer.body["start"].endswith("Z")
    assert answer.body["end"] == z(soon + timedelta(minutes=45))
    assert answer.body["capacity"] == {"base": 5, "premiumBuffer": 1, "emergencyBuffer": 3}
    assert answer.body["limits"] == {"STANDARD": 5, "PREMIUM": 6, "CRITICAL": 9}
    assert answer.body["available"] == answer.body["limits"]
    assert (answer.body["delayed"], answer.body["delayMinutes"], answer.body["booked"]) == (False, 0, 0)


def test_the_same_instant_with_another_offset_is_slot_exists(slot: Slot) -> None:
    body = slot_body(slot.doctor_id, slot.start.astimezone(IST).isoformat(), slot.end.astimezone(IST).isoformat())
    answer = call("create_slot", event("create_slot", body=body))
    assert (answer.status, answer.code) == (409, "SLOT_EXISTS")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "2030-11-21T09:00:00"}, "start"),  # no offset
        ({"end": "2030-11-21T08:00:00+05:30"}, "end"),  # not after start
        ({"end": "2030-11-21T09:00:00+05:30"}, "end"),  # equal to start
        ({"doctorId": "dr 1"}, "doctorId"),  # outside the id pattern
        ({"baseCapacity": 0}, "baseCapacity"),
        ({"baseCapacity": "10"}, "baseCapacity"),
        ({"emergencyBuffer": -1}, "emergencyBuffer"),
        ({"doctor_id": "dr-1"}, "doctor_id"),  # unknown field, even as another spelling
    ],
)
def test_create_slot_validation_names_the_field(change: dict[str, object], field: str) -> None:
    body = {**slot_body("dr-1", "2030-11-21T09:00:00+05:30", "2030-11-21T10:00:00+05:30"), **change}
    answer = call("create_slot", event("create_slot", body=body))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in answer.details]


def test_create_slot_whose_end_has_passed_is_a_validation_error(doctor_id: str) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    answer = call("create_slot", event("create_slot", body=slot_body(doctor_id, z(past), z(past + timedelta(hours=1)))))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert answer.details == [{"field": "end", "message": "has already passed"}]


def test_create_slot_missing_field() -> None:
    answer = call("create_slot", event("create_slot", body={"doctorId": "dr-1", "start": "2030-11-21T09:00:00Z"}))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["end"]


def test_get_slot_shows_bookings_and_availability(allocator: Allocator, slot: Slot) -> None:
    allocator.book(slot.slot_id, "p-1", Source.ONLINE)
    allocator.book(slot.slot_id, "p-2", Source.EMERGENCY)
    answer = call("get_slot", event("get_slot", path={"slotId": slot.slot_id}))
    assert answer.status == 200
    assert set(answer.body) == SLOT_KEYS
    assert (answer.body["slotId"], answer.body["doctorId"], answer.body["booked"]) == (slot.slot_id, slot.doctor_id, 2)
    assert answer.body["available"] == {"STANDARD": 8, "PREMIUM": 10, "CRITICAL": 13}


def test_get_slot_unknown_is_404_and_a_bad_id_is_400() -> None:
    answer = call("get_slot", event("get_slot", path={"slotId": "slot-nobody"}))
    assert (answer.status, answer.code) == (404, "NOT_FOUND")
    answer = call("get_slot", event("get_slot", path={"slotId": "s" * 65}))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["slotId"]


def test_list_doctor_slots_gives_that_day_by_start(allocator: Allocator, doctor_id: str) -> None:
    day = datetime(2030, 11, 21, tzinfo=UTC)
    late = allocator.create_slot(doctor_id, day + timedelta(hours=15), day + timedelta(hours=16))
    early = allocator.create_slot(doctor_id, day + timedelta(hours=9), day + timedelta(hours=10))
    allocator.create_slot(doctor_id, day + timedelta(days=1, hours=9), day + timedelta(days=1, hours=10))
    allocator.create_slot("dr-someone-else", day + timedelta(hours=9), day + timedelta(hours=10))

    answer = call(
        "list_doctor_slots", event("list_doctor_slots", path={"doctorId": doctor_id}, query={"date": "2030-11-21"})
    )
    assert answer.status == 200
    assert [s["slotId"] for s in answer.body["slots"]] == [early.slot_id, late.slot_id]
    assert all(set(s) == SLOT_KEYS for s in answer.body["slots"])


@pytest.mark.parametrize("query", [{}, {"date": "21-11-2030"}, {"date": "2030-02-30"}])
def test_list_doctor_slots_needs_a_real_date(query: dict[str, str]) -> None:
    answer = call("list_doctor_slots", event("list_doctor_slots", query=query))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["date"]


def test_set_delay_shrinks_the_limits_and_keeps_bookings(allocator: Allocator, slot: Slot) -> None:
    for i in range(9):
        allocator.book(slot.slot_id, f"p-{i}", Source.ONLINE)
    answer = call("set_delay", event("set_delay", path={"slotId": slot.slot_id}, body={"delayed": True, "minutes": 30}))
    assert answer.status == 200
    assert (answer.body["delayed"], answer.body["delayMinutes"], answer.body["booked"]) == (True, 30, 9)
    assert answer.body["limits"] == {"STANDARD": 8, "PREMIUM": 10, "CRITICAL": 15}
    assert answer.body["available"] == {"STANDARD": 0, "PREMIUM": 1, "CRITICAL": 6}

    answer = call("set_delay", event("set_delay", path={"slotId": slot.slot_id}, body={"delayed": False}))
    assert (answer.body["delayed"], answer.body["delayMinutes"], answer.body["limits"]["STANDARD"]) == (False, 0, 10)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delayed": True, "minutes": -5}, "minutes"),
        ({"delayed": "yes"}, "delayed"),
        ({"minutes": 10}, "delayed"),
        ({"delayed": True, "reason": "traffic"}, "reason"),
    ],
)
def test_set_delay_validation(slot: Slot, body: dict[str, object], field: str) -> None:
    answer = call("set_delay", event("set_delay", path={"slotId": slot.slot_id}, body=body))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == [field]


def test_set_delay_of_an_unknown_slot_is_404() -> None:
    answer = call("set_delay", event("set_delay", path={"slotId": "slot-nobody"}, body={"delayed": True}))
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


def test_queue_is_active_bookings_in_call_order(allocator: Allocator, slot: Slot) -> None:
    first = allocator.book(slot.slot_id, "p-1", Source.ONLINE)
    cancelled = allocator.book(slot.slot_id, "p-2", Source.PAID)
    emergency = allocator.book(slot.slot_id, "p-3", Source.EMERGENCY)
    walk_in = allocator.book(slot.slot_id, "p-4", Source.WALKIN)
    allocator.cancel(cancelled.booking_id)

    answer = call("get_queue", event("get_queue", path={"slotId": slot.slot_id}))
    assert answer.status == 200
    assert answer.body["slotId"] == slot.slot_id
    assert [b["bookingId"] for b in answer.body["queue"]] == [
        emergency.booking_id,
        first.booking_id,
        walk_in.booking_id,
    ]
    assert [b["token"] for b in answer.body["queue"]] == [3, 1, 4]


def test_queue_of_an_unknown_slot_is_404() -> None:
    answer = call("get_queue", event("get_queue", path={"slotId": "slot-nobody"}))
    assert (answer.status, answer.code) == (404, "NOT_FOUND")
