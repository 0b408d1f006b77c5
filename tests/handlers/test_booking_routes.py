"""Booking routes through their handlers: the Booking shape, every refusal the contract lists, 429, 503, 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from devserver import template as templates
from devserver.servers import LocalServer
from opd.api import resolver
from opd.domain import Booking, Capacity, Slot, Source
from opd.lock import SlotLock
from opd.service import Allocator
from opd.store import SlotStore
from tests.handlers.support import PATIENT, call, event, point_runtime_at

REPO_ROOT = Path(__file__).resolve().parents[2]

BOOKING_KEYS = {
    "patientName",
    "bookingId",
    "slotId",
    "doctorId",
    "patientId",
    "source",
    "tier",
    "token",
    "status",
    "createdAt",
    "updatedAt",
    "position",
    "estimatedCallAt",
    "waitlistPosition",
    "calledAt",
    "completedAt",
    "skips",
    "cancelReason",
    "rescheduledFrom",
    "rescheduledTo",
    "phone",
    "language",
    "statusCode",
    "history",
}


def booking_body(slot_id: str, patient_id: str = PATIENT, source: str = "ONLINE") -> dict[str, str]:
    return {"slotId": slot_id, "patientId": patient_id, "source": source}


def book(slot_id: str, patient_id: str = PATIENT, source: str = "ONLINE", role: str = "reception") -> dict[str, object]:
    """POST /bookings as reception (any source, any patient), without an Idempotency-Key."""
    ev = event(
        "create_booking", body=booking_body(slot_id, patient_id, source), role=role, headers={"Idempotency-Key": None}
    )
    answer = call("create_booking", ev)
    assert answer.status == 201, answer.body
    body: dict[str, object] = answer.body
    return body


def test_create_booking_answers_the_booking(slot: Slot) -> None:
    answer = call("create_booking", event("create_booking", body=booking_body(slot.slot_id)))
    assert answer.status == 201
    assert set(answer.body) == BOOKING_KEYS
    assert answer.body["bookingId"].startswith(slot.slot_id)
    assert {k: answer.body[k] for k in ("slotId", "doctorId", "patientId", "source", "tier", "token", "status")} == {
        "slotId": slot.slot_id,
        "doctorId": slot.doctor_id,
        "patientId": PATIENT,
        "source": "ONLINE",
        "tier": "STANDARD",
        "token": 1,
        "status": "BOOKED",
    }
    created = datetime.fromisoformat(answer.body["createdAt"])
    assert answer.body["createdAt"].endswith("Z") and abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert answer.body["updatedAt"] == answer.body["createdAt"]


def test_each_booking_is_counted_by_tier_with_its_lock_wait(slot: Slot, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    book(slot.slot_id, "p-1", "PAID")
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(m["Bookings"], m["tier"]) for m in emf if "Bookings" in m] == [([1.0], "PREMIUM")]
    assert [len(m["LockWaitMs"]) == 1 and m["LockWaitMs"][0] >= 0 for m in emf if "LockWaitMs" in m] == [True]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OPD"


def test_tokens_count_up_and_tiers_follow_the_source(slot: Slot) -> None:
    answers = [book(slot.slot_id, f"p-{source}", source) for source in ("WALKIN", "PAID", "FOLLOWUP", "EMERGENCY")]
    assert [(a["token"], a["tier"]) for a in answers] == [
        (1, "STANDARD"),
        (2, "PREMIUM"),
        (3, "PREMIUM"),
        (4, "CRITICAL"),
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"slotId": "slot-1", "patientId": PATIENT, "source": "WALK_IN"}, ["source"]),
        ({"slotId": "slot-1", "patientId": PATIENT, "source": "ONLINE", "priority": 1}, ["priority"]),
        ({"slotId": "slot-1", "source": "ONLINE"}, ["patientId"]),
        ({"slotId": "slot 1", "patientId": PATIENT, "source": "ONLINE"}, ["slotId"]),
        ({"slotId": "slot-1", "patientId": 42, "source": "ONLINE"}, ["patientId"]),
        ("{not json", ["body"]),
        ('["slot-1"]', ["body"]),
        ('[{"slotId": "slot-1", "patientId": "patient-sample-001", "source": "ONLINE"}]', ["body"]),
        ("", ["body"]),
        (None, ["body"]),
    ],
)
def test_create_booking_validation_names_each_field(body: object, fields: list[str]) -> None:
    answer = call("create_booking", event("create_booking", body=body, role="reception"))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == fields
    assert all(d["message"] for d in answer.details)


def test_a_body_that_is_not_json_by_content_type_is_400(slot: Slot) -> None:
    ev = event("create_booking", body="slotId=x", headers={"Content-Type": "text/plain"})
    answer = call("create_booking", ev)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == ["body"]


def test_booking_an_unknown_slot_is_404() -> None:
    answer = call("create_booking", event("create_booking", body=booking_body("slot-nobody")))
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


def test_slot_full_names_tier_limit_and_booked(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    small = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(2, 1, 0))
    book(small.slot_id, "p-1")
    book(small.slot_id, "p-2")
    answer = call(
        "create_booking", event("create_booking", body=booking_body(small.slot_id, "p-3", "WALKIN"), role="reception")
    )
    assert (answer.status, answer.code) == (409, "SLOT_FULL")
    assert answer.details == [{"tier": "STANDARD", "limit": 2, "booked": 2}]
    assert book(small.slot_id, "p-3", "PAID")["tier"] == "PREMIUM"  # the premium buffer is still there


def test_duplicate_booking(booking: Booking) -> None:
    answer = call("create_booking", event("create_booking", body=booking_body(booking.slot_id)))
    assert (answer.status, answer.code) == (409, "DUPLICATE_BOOKING")


def test_booking_a_slot_that_has_ended_is_slot_closed(slot_store: SlotStore, doctor_id: str) -> None:
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    slot_store.insert(Slot("slot-ended-1", doctor_id, ended - timedelta(hours=1), ended))
    answer = call("create_booking", event("create_booking", body=booking_body("slot-ended-1")))
    assert (answer.status, answer.code) == (409, "SLOT_CLOSED")


def test_a_busy_slot_is_429_with_retry_after(redis_client: redis.Redis, slot: Slot) -> None:
    redis_client.set(SlotLock.key(slot.slot_id), "someone-else", px=5_000)
    try:
        answer = call("create_booking", event("create_booking", body=booking_body(slot.slot_id)))
    finally:
        redis_client.delete(SlotLock.key(slot.slot_id))
    assert (answer.status, answer.code) == (429, "SLOT_BUSY")
    assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize("idempotency_key", [None, "retry-after-outage-1"])
def test_redis_down_is_503_and_books_nothing(
    monkeypatch: pytest.MonkeyPatch,
    private_servers: tuple[LocalServer, LocalServer],
    soon: datetime,
    idempotency_key: str | None,
) -> None:
    redis_srv, mongo_srv = private_servers
    point_runtime_at(monkeypatch, redis_srv.url, mongo_srv.url, "opd")
    slot = resolver.allocator().create_slot("dr-outage", soon, soon + timedelta(hours=1))

    redis_srv.stop()
    ev = event("create_booking", body=booking_body(slot.slot_id), headers={"Idempotency-Key": idempotency_key})
    answer = call("create_booking", ev)
    assert (answer.status, answer.code) == (503, "DEPENDENCY_UNAVAILABLE")
    assert answer.details == [{"dependency": "redis"}]
    assert resolver.allocator().get_slot(slot.slot_id).bookings == ()


def test_get_booking(booking: Booking) -> None:
    answer = call("get_booking", event("get_booking", path={"bookingId": booking.booking_id}))
    assert answer.status == 200
    assert set(answer.body) == BOOKING_KEYS
    assert (answer.body["bookingId"], answer.body["token"], answer.body["status"]) == (booking.booking_id, 1, "BOOKED")


@pytest.mark.parametrize(
    "name", ["get_booking", "cancel_booking", "check_in_booking", "mark_no_show", "complete_booking"]
)
@pytest.mark.parametrize("booking_id", ["slot-nobody.b1", "no-dot-at-all"])
def test_an_unknown_booking_is_404(name: str, booking_id: str) -> None:
    answer = call(name, event(name, path={"bookingId": booking_id}, role="admin"))
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


def test_cancel_frees_the_place_and_twice_is_invalid_transition(allocator: Allocator, booking: Booking) -> None:
    answer = call("cancel_booking", event("cancel_booking", path={"bookingId": booking.booking_id}))
    assert (answer.status, answer.body["status"], answer.body["bookingId"]) == (200, "CANCELLED", booking.booking_id)
    assert allocator.get_slot(booking.slot_id).booked == 0

    again = call("cancel_booking", event("cancel_booking", path={"bookingId": booking.booking_id}))
    assert (again.status, again.code) == (409, "INVALID_TRANSITION")
    assert again.details == [{"from": "CANCELLED", "to": "CANCELLED"}]


def test_check_in_then_complete(booking: Booking) -> None:
    path = {"bookingId": booking.booking_id}
    answer = call("check_in_booking", event("check_in_booking", path=path))
    assert (answer.status, answer.body["status"]) == (200, "CHECKED_IN")
    answer = call("complete_booking", event("complete_booking", path=path))
    assert (answer.status, answer.body["status"]) == (200, "COMPLETED")
    assert answer.body["updatedAt"] >= answer.body["createdAt"]


def test_complete_before_check_in_is_invalid_transition(booking: Booking) -> None:
    answer = call("complete_booking", event("complete_booking", path={"bookingId": booking.booking_id}))
    assert (answer.status, answer.code) == (409, "INVALID_TRANSITION")


def test_no_show_frees_the_place_but_not_after_a_cancel(allocator: Allocator, booking: Booking) -> None:
    other = allocator.book(booking.slot_id, "p-2", Source.WALKIN)
    answer = call("mark_no_show", event("mark_no_show", path={"bookingId": other.booking_id}))
    assert (answer.status, answer.body["status"]) == (200, "NO_SHOW")
    assert allocator.get_slot(booking.slot_id).booked == 1

    allocator.cancel(booking.booking_id)
    answer = call("mark_no_show", event("mark_no_show", path={"bookingId": booking.booking_id}))
    assert (answer.status, answer.code) == (409, "INVALID_TRANSITION")


def test_anything_unexpected_is_a_500_envelope_without_the_stack(
    monkeypatch: pytest.MonkeyPatch, booking: Booking
) -> None:
    def broken(self: Allocator, booking_id: str) -> Booking:
        raise KeyError("secret internals")

    monkeypatch.setattr(Allocator, "get_booking", broken)
    answer = call("get_booking", event("get_booking", path={"bookingId": booking.booking_id}))
    assert (answer.status, answer.code) == (500, "INTERNAL_ERROR")
    assert "secret" not in str(answer.body) and "Traceback" not in str(answer.body)


def test_an_unknown_route_is_a_404_envelope() -> None:
    ev = event("get_booking", path={"bookingId": "x"})
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/nowhere"
    answer = call("get_booking", ev)
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


def test_cors_headers_for_a_browser(booking: Booking) -> None:
    """CORS lives in one place, the HttpApi's CorsConfiguration: with it API Gateway answers preflights
    itself and replaces any CORS headers a function sends, so the handler sends none."""
    origin = "https://clinic.example"
    ev = event("get_booking", path={"bookingId": booking.booking_id}, headers={"Origin": origin})
    answer = call("get_booking", ev)
    assert answer.status == 200
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
    cors = templates.cors(templates.load_template(REPO_ROOT / "template.yaml"))
    assert cors is not None
    headers, preflight = dict(cors.answer_headers(origin)), dict(cors.preflight_headers(origin))
    assert headers["access-control-allow-origin"] == "*"  # the CorsAllowOrigin parameter's default
    assert "idempotency-key" in preflight["access-control-allow-headers"]
    assert headers["access-control-expose-headers"] == "retry-after"
