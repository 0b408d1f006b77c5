"""The OPD room through its handlers: call next, skip, complete from CALLED, the board, and what every
booking answer now carries (contract v2: the Booking shape, positions and estimates, who made each change).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from pymongo import MongoClient

from opd import runtime, store
from opd.domain import Capacity, Slot, Source
from opd.mongo import Document
from opd.service import Allocator
from tests.handlers.support import call, context, event, handler_module
from tests.support.roundtrips import CountingRedis, MongoCommandCounter

DESK = "desk-anna"  # the reception user most calls here are made as
CONSULTATION = timedelta(minutes=6)  # a 60-minute slot of base 10, before 3 consultations are known
NOT_YET = ("waitlistPosition", "cancelReason", "rescheduledFrom", "rescheduledTo", "phone")  # later issues


def book(slot_id: str, patient_id: str, source: str = "WALKIN", user: str = DESK) -> dict[str, Any]:
    body = {"slotId": slot_id, "patientId": patient_id, "source": source}
    answer = call("create_booking", event("create_booking", body=body, role="reception", user=user))
    assert answer.status == 201, answer.body
    booking: dict[str, Any] = answer.body
    return booking


def act(name: str, booking_id: str, user: str = DESK, role: str = "reception") -> Any:
    """A call on one booking (get_booking, check_in_booking, skip_booking, ...) through its handler."""
    return call(name, event(name, path={"bookingId": booking_id}, role=role, user=user))


def check_in(booking_id: str, user: str = DESK) -> dict[str, Any]:
    answer = act("check_in_booking", booking_id, user)
    assert (answer.status, answer.body["status"]) == (200, "CHECKED_IN"), answer.body
    checked_in: dict[str, Any] = answer.body
    return checked_in


def call_next(slot_id: str, user: str = DESK, role: str = "reception") -> Any:
    return call("call_next", event("call_next", path={"slotId": slot_id}, role=role, user=user))


def token(booking: dict[str, Any] | None) -> int | None:
    return None if booking is None else int(booking["token"])


def queue_tokens(slot_id: str) -> list[tuple[int, str]]:
    answer = call("get_queue", event("get_queue", path={"slotId": slot_id}))
    return [(b["token"], b["status"]) for b in answer.body["queue"]]


def at(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def board_event(doctor_id: str, day: str) -> dict[str, Any]:
    return event("get_board", path={"doctorId": doctor_id}, query={"date": day})


def board_text(doctor_id: str, day: str) -> tuple[int, str]:
    """The board's raw answer (status, the body as sent): what a screen, or anyone in the room, reads."""
    raw = handler_module("get_board").lambda_handler(board_event(doctor_id, day), context())
    return raw["statusCode"], raw["body"]


def checked_in_slot(allocator: Allocator, slot: Slot, sources: list[str]) -> list[dict[str, Any]]:
    """Bookings of `sources` in order (tokens 1..), each checked in."""
    bookings = [book(slot.slot_id, f"p-{i}-{uuid.uuid4().hex[:6]}", source) for i, source in enumerate(sources, 1)]
    return [check_in(b["bookingId"]) for b in bookings]


# -- call next ---------------------------------------------------------------------------------------------


def test_call_next_completes_the_one_in_the_room_and_calls_the_first_checked_in_emergency_first(
    allocator: Allocator, slot: Slot
) -> None:
    checked_in_slot(allocator, slot, ["ONLINE", "WALKIN", "EMERGENCY"])  # tokens 1, 2, 3
    book(slot.slot_id, "p-not-here")  # token 4: BOOKED, never called

    first = call_next(slot.slot_id)
    assert first.status == 200, first.body
    assert set(first.body) == {"slotId", "completed", "called"}
    assert (first.body["slotId"], first.body["completed"], token(first.body["called"])) == (slot.slot_id, None, 3)
    called = first.body["called"]
    assert (called["status"], called["position"], called["tier"]) == ("CALLED", 0, "CRITICAL")
    assert called["calledAt"] == called["updatedAt"] and called["completedAt"] is None

    moves = [call_next(slot.slot_id).body for _ in range(4)]
    assert [(token(m["completed"]), token(m["called"])) for m in moves] == [(3, 1), (1, 2), (2, None), (None, None)]
    done = moves[0]["completed"]
    assert (done["status"], done["position"], done["estimatedCallAt"]) == ("COMPLETED", None, None)
    assert at(done["completedAt"]) >= at(done["calledAt"])
    assert queue_tokens(slot.slot_id) == [(4, "BOOKED")]
    assert allocator.get_slot(slot.slot_id).booked == 4  # a consultation keeps its place


def test_call_next_with_nobody_checked_in_answers_null_null_and_writes_nothing(
    allocator: Allocator, slot: Slot
) -> None:
    book(slot.slot_id, "p-booked-only")
    before = allocator.get_slot(slot.slot_id)
    answer = call_next(slot.slot_id)
    assert (answer.status, answer.body) == (200, {"slotId": slot.slot_id, "completed": None, "called": None})
    assert allocator.get_slot(slot.slot_id).version == before.version


def test_call_next_names_the_slot_it_cannot_find_or_read() -> None:
    assert call_next("slot-nobody").code == "NOT_FOUND"
    answer = call_next("a b")
    assert (answer.status, answer.code, [d["field"] for d in answer.details]) == (400, "VALIDATION_ERROR", ["slotId"])


# -- skip --------------------------------------------------------------------------------------------------


def test_a_skip_sends_the_called_patient_to_the_end_of_their_group(allocator: Allocator, slot: Slot) -> None:
    first, *_ = checked_in_slot(allocator, slot, ["WALKIN", "WALKIN", "PAID", "EMERGENCY"])  # 4 is CRITICAL
    call_next(slot.slot_id)  # 4, the emergency
    assert token(call_next(slot.slot_id).body["called"]) == 1  # 4 done

    answer = act("skip_booking", first["bookingId"])
    assert answer.status == 200, answer.body
    assert (answer.body["status"], answer.body["skips"], answer.body["position"]) == ("CHECKED_IN", 1, 2)
    assert queue_tokens(slot.slot_id) == [(2, "CHECKED_IN"), (3, "CHECKED_IN"), (1, "CHECKED_IN")]
    assert token(call_next(slot.slot_id).body["called"]) == 2


def test_the_third_skip_is_a_no_show_and_gives_the_place_back(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    one_place = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 0, 0))
    [booking] = checked_in_slot(allocator, one_place, ["WALKIN"])
    answers = []
    for _ in range(3):
        assert token(call_next(one_place.slot_id).body["called"]) == 1  # the only one: called again
        answers.append(act("skip_booking", booking["bookingId"]).body)
    assert [(a["status"], a["skips"]) for a in answers] == [("CHECKED_IN", 1), ("CHECKED_IN", 2), ("NO_SHOW", 3)]
    assert (answers[-1]["position"], answers[-1]["estimatedCallAt"]) == (None, None)

    after = call("get_slot", event("get_slot", path={"slotId": one_place.slot_id})).body
    assert (after["booked"], after["available"]["STANDARD"]) == (0, 1)
    assert book(one_place.slot_id, "p-next-in-line")["token"] == 2  # the freed place is taken at once


@pytest.mark.parametrize("state", ["BOOKED", "CHECKED_IN", "COMPLETED"])
def test_only_a_called_booking_can_be_skipped(allocator: Allocator, slot: Slot, state: str) -> None:
    booking = book(slot.slot_id, "p-1")
    if state != "BOOKED":
        check_in(booking["bookingId"])
    if state == "COMPLETED":
        assert act("complete_booking", booking["bookingId"]).status == 200
    before = allocator.get_slot(slot.slot_id)
    answer = act("skip_booking", booking["bookingId"])
    assert (answer.status, answer.code) == (409, "INVALID_TRANSITION")
    assert answer.details == [{"from": state, "to": "CHECKED_IN"}]
    assert allocator.get_slot(slot.slot_id) == before


def test_skipping_an_unknown_booking_is_404() -> None:
    assert act("skip_booking", "slot-nobody.b1").code == "NOT_FOUND"


# -- complete, now also from CALLED ---------------------------------------------------------------------------


def test_complete_ends_the_consultation_of_the_called_patient(allocator: Allocator, slot: Slot) -> None:
    checked_in_slot(allocator, slot, ["WALKIN", "WALKIN"])
    called = call_next(slot.slot_id).body["called"]
    answer = act("complete_booking", called["bookingId"], user="desk-ben")
    assert answer.status == 200, answer.body
    assert (answer.body["status"], answer.body["position"], answer.body["history"][-1]["by"]) == (
        "COMPLETED",
        None,
        "desk-ben",
    )
    assert at(answer.body["completedAt"]) >= at(answer.body["calledAt"])
    # Nobody is in the room now: the next call-next completes no one.
    after = call_next(slot.slot_id).body
    assert (after["completed"], token(after["called"])) == (None, 2)


# -- what every booking answer carries ----------------------------------------------------------------------


def test_queued_bookings_carry_their_position_and_estimate_and_final_ones_null(slot: Slot) -> None:
    first, second, third = (book(slot.slot_id, f"p-{i}") for i in range(3))
    # No one called yet: start (an hour from now) + position × 6 minutes.
    assert [(b["position"], at(b["estimatedCallAt"])) for b in (first, second, third)] == [
        (i, slot.start + i * CONSULTATION) for i in range(3)
    ]
    assert all(first[field] is None for field in NOT_YET)
    assert first["history"] == [{"status": "BOOKED", "at": first["createdAt"], "by": DESK}]

    assert check_in(second["bookingId"])["position"] == 1  # a check-in is no jump in the queue
    called = call_next(slot.slot_id).body["called"]
    assert (called["bookingId"], called["position"], called["estimatedCallAt"]) == (
        second["bookingId"],
        0,
        called["calledAt"],
    )
    # Behind the one in the room: its call + 6 minutes, then 6 minutes each.
    read = act("get_booking", third["bookingId"]).body
    in_room_until = at(called["calledAt"]) + CONSULTATION
    assert (read["status"], read["position"], at(read["estimatedCallAt"])) == (
        "BOOKED",
        2,
        (in_room_until + CONSULTATION).replace(microsecond=0),
    )

    cancelled = act("cancel_booking", first["bookingId"]).body
    no_show = act("mark_no_show", third["bookingId"]).body
    completed = act("complete_booking", second["bookingId"]).body
    for final in (cancelled, no_show, completed):
        assert (final["position"], final["estimatedCallAt"]) == (None, None), final["status"]


def test_every_change_names_who_made_it(allocator: Allocator, slot: Slot) -> None:
    booking = book(slot.slot_id, "p-1", user="desk-anna")
    check_in(booking["bookingId"], user="desk-ben")
    assert call_next(slot.slot_id, user="admin-cleo", role="admin").status == 200
    assert act("skip_booking", booking["bookingId"], user="desk-anna").status == 200
    assert call_next(slot.slot_id, user="desk-ben").status == 200
    assert act("complete_booking", booking["bookingId"], user="admin-cleo", role="admin").status == 200

    read = act("get_booking", booking["bookingId"]).body
    assert [(c["status"], c["by"]) for c in read["history"]] == [
        ("BOOKED", "desk-anna"),
        ("CHECKED_IN", "desk-ben"),
        ("CALLED", "admin-cleo"),
        ("CHECKED_IN", "desk-anna"),
        ("CALLED", "desk-ben"),
        ("COMPLETED", "admin-cleo"),
    ]
    times = [at(c["at"]) for c in read["history"]]
    assert times == sorted(times) and times[-1] == at(read["updatedAt"])


@pytest.mark.parametrize(
    ("name", "role", "user"),
    [
        ("cancel_booking", "patient", "pat-own"),
        ("cancel_booking", "reception", "desk-dan"),
        ("mark_no_show", "admin", "admin-eve"),
    ],
)
def test_a_cancel_or_no_show_names_its_caller_too(slot: Slot, name: str, role: str, user: str) -> None:
    body = {"slotId": slot.slot_id, "patientId": "pat-own", "source": "ONLINE"}
    booked = call("create_booking", event("create_booking", body=body, role="patient", user="pat-own")).body
    assert booked["history"][0]["by"] == "pat-own"
    answer = act(name, booked["bookingId"], user=user, role=role)
    assert answer.status == 200, answer.body
    assert answer.body["history"][-1]["by"] == user


# -- the waiting-room board -----------------------------------------------------------------------------------


def test_the_board_shows_the_call_the_next_five_and_how_many_wait_and_never_who(
    allocator: Allocator, slot: Slot
) -> None:
    secret = f"patient-{uuid.uuid4().hex}"
    sources = ["WALKIN"] * 6 + ["EMERGENCY", "WALKIN"]  # tokens 1-8, 7 the emergency
    bookings = [book(slot.slot_id, f"{secret}-{i}", source) for i, source in enumerate(sources, 1)]
    for b in bookings:
        check_in(b["bookingId"])
    book(slot.slot_id, f"{secret}-booked")  # token 9, not here yet: not on the board
    call_next(slot.slot_id)  # 7
    call_next(slot.slot_id)  # 7 done, 1 in the room

    day = slot.start.date().isoformat()
    status, text = board_text(slot.doctor_id, day)
    assert status == 200, text
    for never in (secret, "patientId", "bookingId", "phone", DESK):  # anyone in the waiting room reads it
        assert never not in text, never
    board = json.loads(text)
    assert board == {
        "doctorId": slot.doctor_id,
        "doctorName": slot.doctor_id,  # no record in the directory: shown by its id
        "room": None,
        "date": day,
        "slots": [
            {
                "slotId": slot.slot_id,
                "start": board["slots"][0]["start"],
                "end": board["slots"][0]["end"],
                "delayed": False,
                "delayMinutes": 0,
                "closed": False,
                "calling": 1,
                "next": [2, 3, 4, 5, 6],
                "waiting": 6,  # 2, 3, 4, 5, 6, 8: the one in the room and 9 (not arrived) are not waiting
            }
        ],
    }
    assert at(board["slots"][0]["start"]) == slot.start and at(board["slots"][0]["end"]) == slot.end


def test_the_board_is_that_doctors_slots_that_day_by_start(allocator: Allocator, doctor_id: str) -> None:
    day = datetime(2030, 11, 21, tzinfo=UTC)
    late = allocator.create_slot(doctor_id, day + timedelta(hours=15), day + timedelta(hours=16))
    early = allocator.create_slot(doctor_id, day + timedelta(hours=9), day + timedelta(hours=10))
    allocator.create_slot(doctor_id, day + timedelta(days=1, hours=9), day + timedelta(days=1, hours=10))
    allocator.create_slot("dr-someone-else", day + timedelta(hours=9), day + timedelta(hours=10))
    allocator.set_delay(late.slot_id, True, 25)

    answer = call("get_board", board_event(doctor_id, "2030-11-21"))
    assert answer.status == 200
    assert [(s["slotId"], s["delayed"], s["delayMinutes"]) for s in answer.body["slots"]] == [
        (early.slot_id, False, 0),
        (late.slot_id, True, 25),
    ]
    assert all((s["calling"], s["next"], s["waiting"]) == (None, [], 0) for s in answer.body["slots"])
    empty = call("get_board", board_event(doctor_id, "2030-11-23"))
    assert (empty.status, empty.body) == (
        200,
        {"doctorId": doctor_id, "doctorName": doctor_id, "room": None, "date": "2030-11-23", "slots": []},
    )


@pytest.mark.parametrize(
    ("doctor", "query", "field"),
    [
        ("dr-1", {}, "date"),
        ("dr-1", {"date": "21-11-2030"}, "date"),
        ("dr-1", {"date": "9999-12-31"}, "date"),  # outside today - 1 day .. today + 5 years
        ("dr 1", {"date": "2030-11-21"}, "doctorId"),
    ],
)
def test_the_board_takes_the_same_day_and_id_as_the_slot_list(doctor: str, query: dict[str, str], field: str) -> None:
    answer = call("get_board", event("get_board", path={"doctorId": doctor}, query=query))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR")
    assert [d["field"] for d in answer.details] == [field]


def test_a_board_may_be_kept_a_second_by_a_shared_cache_and_an_error_not_at_all(slot: Slot) -> None:
    ok = call("get_board", board_event(slot.doctor_id, slot.start.date().isoformat()))
    refused = call("get_board", board_event(slot.doctor_id, "9999-12-31"))
    assert (ok.status, ok.headers["Cache-Control"]) == (200, "public, max-age=1")
    assert (refused.status, refused.headers["Cache-Control"]) == (400, "no-store")
    # The routes that carry patient data still say no-store.
    queue = call("get_queue", event("get_queue", path={"slotId": slot.slot_id}))
    assert (queue.status, queue.headers["Cache-Control"]) == (200, "no-store")


@pytest.fixture
def counted_runtime(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, redis_url: str
) -> tuple[MongoCommandCounter, CountingRedis]:
    """The handlers' clients, counting every command they send (installed after handler_runtime's reset)."""
    mongo_counter = MongoCommandCounter()
    counting_redis = CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)

    def counting_mongo() -> MongoClient[Document]:
        return store.connect(mongo_uri, event_listeners=[mongo_counter])

    monkeypatch.setattr(runtime, "mongo_client", cache(counting_mongo))
    monkeypatch.setattr(runtime, "redis_client", cache(lambda: counting_redis))
    runtime.reset()
    return mongo_counter, counting_redis


def test_a_board_is_one_indexed_query_and_one_read_by_id_and_takes_no_lock(
    allocator: Allocator, doctor_id: str, counted_runtime: tuple[MongoCommandCounter, CountingRedis]
) -> None:
    mongo_counter, counting_redis = counted_runtime
    day = datetime(2030, 11, 22, 9, tzinfo=UTC)
    for hour in range(3):
        start = day + timedelta(hours=hour)
        opened = allocator.create_slot(doctor_id, start, start + timedelta(hours=1))
        allocator.check_in(allocator.book(opened.slot_id, "p-1", Source.ONLINE).booking_id)
    assert call("get_board", board_event(doctor_id, "2030-11-22")).status == 200  # connects, as a cold start would
    mongo_counter.commands.clear()
    counting_redis.commands.clear()

    answer = call("get_board", board_event(doctor_id, "2030-11-22"))
    assert [s["next"] for s in answer.body["slots"]] == [[1], [1], [1]]
    # The slots of the day, then the doctor's record by primary key (opd.doctors).
    assert (dict(mongo_counter.commands), dict(counting_redis.commands)) == ({"mongo find": 2}, {})
