"""Every input is bounded and every answer carries its headers (issue 9, "Hardening"), through the handlers.

"Today" is the service's clock: the handlers' own allocator is given a fixed one, so the window
[today - 1 day, today + 5 years] is the same on every run.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from opd import runtime
from opd.api.bounds import MAX_BODY_BYTES
from opd.domain import Slot
from tests.handlers.support import ROUTE_HANDLERS, cache_control, call, event, handler_module

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # the window: 2026-11-20 to 2031-11-21 (UTC)
WINDOW = "must be from 2026-11-20 to 2031-11-21, clinic time (UTC): at most 1 day back and 5 years ahead"
START, END = "2026-11-21T15:00:00+05:30", "2026-11-21T16:00:00+05:30"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch, handler_runtime: None) -> Iterator[None]:
    monkeypatch.setattr(runtime.allocator(), "clock", lambda: NOW)
    yield


@pytest.fixture
def open_slot(doctor_id: str) -> dict[str, Any]:
    answer = call("create_slot", event("create_slot", body={"doctorId": doctor_id, "start": START, "end": END}))
    assert answer.status == 201, answer.body
    slot: dict[str, Any] = answer.body
    return slot


def create_slot(doctor_id: str, start: object, end: object, **headers: str | None) -> Any:
    body = {"doctorId": doctor_id, "start": start, "end": end}
    return call("create_slot", event("create_slot", body=body, headers=headers or None))


def fields(answer: Any) -> list[str]:
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    return [d["field"] for d in answer.details]


# -- times and dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-20T00:00:00Z", "2026-11-21T10:00:00Z"),  # the window's first instant
        ("2026-11-20T05:30:00+05:30", "2026-11-21T10:00:00Z"),  # the same instant, written in IST
        ("2031-11-21T23:00:00Z", "2031-11-21T23:59:59.999Z"),  # its last minute
        ("2030-01-07T09:00+05:30", "2030-01-07T10:00+05:30"),  # seconds are optional in ISO 8601
    ],
)
def test_a_slot_inside_the_window_is_created(doctor_id: str, start: str, end: str) -> None:
    assert create_slot(doctor_id, start, end).status == 201


@pytest.mark.parametrize(
    ("start", "end", "refused"),
    [
        ("2026-11-19T23:59:59Z", "2026-11-21T10:00:00Z", ["start"]),
        ("2026-11-20T05:29:59+05:30", "2026-11-21T10:00:00Z", ["start"]),  # 23:59:59 UTC the day before
        ("2031-11-21T23:00:00Z", "2031-11-22T00:00:00Z", ["end"]),
        ("0001-01-02T00:00:00Z", "2031-01-01T00:00:00Z", ["start"]),  # a slot from year 1 to 2031
        ("2000-01-01T00:00:00Z", "2099-01-01T00:00:00Z", ["start", "end"]),
    ],
)
def test_a_slot_outside_the_window_names_each_field(doctor_id: str, start: str, end: str, refused: list[str]) -> None:
    answer = create_slot(doctor_id, start, end)
    assert fields(answer) == refused
    assert {d["message"] for d in answer.details} == {WINDOW}


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("0001-01-01T00:00:00+05:30", "2031-01-01T00:00:00Z", "start", "is out of range"),  # year 0 in UTC
        ("2030-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00", "end", "is out of range"),  # year 10000 in UTC
        ("1930000000", "2031-01-01T00:00:00Z", "start", "must be ISO 8601 text with an offset"),  # seconds, as text
        (1930000000, "2031-01-01T00:00:00Z", "start", "must be ISO 8601 text with an offset"),
        ("2030-01-07", "2030-01-08T00:00:00Z", "start", "must be ISO 8601 text with an offset"),  # a date only
        ("2030-01-07 09:00:00+05:30", END, "start", "must be ISO 8601 text with an offset"),
        ("２０３０-01-07T09:00:00+05:30", END, "start", "must be ISO 8601 text with an offset"),  # other digits
        ("2030-01-07T25:00:00+05:30", END, "start", "Input should be a valid datetime"),
    ],
)
def test_a_time_is_iso_8601_text_in_range(doctor_id: str, start: object, end: str, field: str, message: str) -> None:
    answer = create_slot(doctor_id, start, end)
    assert fields(answer) == [field]
    assert answer.details[0]["message"].startswith(message)


def list_slots(day: str) -> Any:
    return call("list_doctor_slots", event("list_doctor_slots", path={"doctorId": "dr-x"}, query={"date": day}))


@pytest.mark.parametrize("day", ["2026-11-20", "2031-11-21"])
def test_a_date_query_inside_the_window_is_answered(day: str) -> None:
    answer = list_slots(day)
    assert (answer.status, answer.body) == (200, {"slots": []})


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("9999-12-31", WINDOW),  # was a 500: the day after it is out of datetime's range
        ("0001-01-01", WINDOW),
        ("2026-11-19", WINDOW),
        ("2031-11-22", WINDOW),
        ("2031-03-03T00:00", "must be a date written YYYY-MM-DD, e.g. 2026-11-21"),
        ("1930000000", "must be a date written YYYY-MM-DD, e.g. 2026-11-21"),
        ("2030-1-7", "must be a date written YYYY-MM-DD, e.g. 2026-11-21"),
        ("2030-02-30", "Input should be a valid date"),
    ],
)
def test_a_date_query_is_exactly_a_day_in_range(day: str, message: str) -> None:
    answer = list_slots(day)
    assert fields(answer) == ["date"]
    assert answer.details[0]["message"].startswith(message)


# -- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "application/json; charset=utf-8", "Application/Json ;charset=UTF-8"]
)
def test_media_types_are_case_insensitive(doctor_id: str, content_type: str) -> None:
    assert create_slot(doctor_id, START, END, **{"Content-Type": content_type}).status == 201


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
)
def test_only_json_is_taken(doctor_id: str, content_type: str) -> None:
    # Powertools would parse forms; a multipart type without a boundary was a 500.
    answer = create_slot(doctor_id, START, END, **{"Content-Type": content_type})
    assert fields(answer) == ["body"]
    assert answer.details[0]["message"] == "must be sent as application/json"


def body_routes(slot: dict[str, Any]) -> list[tuple[str, dict[str, str] | None]]:
    doctor = {"doctorId": slot["doctorId"]}
    return [
        ("create_booking", None),
        ("create_slot", None),
        ("set_delay", {"slotId": slot["slotId"]}),
        ("open_sessions", doctor),
        ("take_leave", doctor),
    ]


def test_a_body_over_64_kib_is_refused_before_it_is_parsed(open_slot: dict[str, Any]) -> None:
    for name, path in body_routes(open_slot):
        text = '{"x": "' + "a" * MAX_BODY_BYTES + '"}'
        answer = call(name, event(name, path=path, body=text, role="admin"))
        assert fields(answer) == ["body"], name
        assert answer.details[0]["message"] == "must be at most 65536 bytes (64 KiB)"


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ('{"a":' * 9_984 + "1" + "}" * 9_984, True),  # the 20 KB body: was a 500 (RecursionError)
        ("[" * 9_984 + "]" * 9_984, True),
        ('{"a":' * 33 + "1" + "}" * 33, True),
        ('{"a":' * 32 + "1" + "}" * 32, False),  # 32 is allowed: then it is an unknown field
    ],
)
def test_a_body_nested_deeper_than_32_is_refused(open_slot: dict[str, Any], text: str, deep: bool) -> None:
    for name, path in body_routes(open_slot):
        answer = call(name, event(name, path=path, body=text, role="admin"))
        assert answer.status == 400, (name, answer.body)
        depth_refused = answer.details == [
            {"field": "body", "message": "must not nest arrays and objects more than 32 deep"}
        ]
        assert depth_refused is deep, (name, answer.details)


@pytest.mark.parametrize(
    "text", ['{"delayed": true, "minutes": NaN}', '{"delayed": true, "minutes": ' + "9" * 5000 + "}"]
)
def test_what_is_not_json_is_refused_as_such(open_slot: dict[str, Any], text: str) -> None:
    answer = call("set_delay", event("set_delay", path={"slotId": open_slot["slotId"]}, body=text))
    assert fields(answer) == ["body"]


@pytest.mark.parametrize("content_type", [None, "application/json", "application/octet-stream"])
def test_a_base64_body_that_is_not_utf8_is_a_400(content_type: str | None) -> None:
    # API Gateway base64-encodes a body without a text media type; invalid UTF-8 was a 500 in decoding.
    ev = event("create_booking", body=base64.b64encode(b"\xff\xfe{").decode(), headers={"Content-Type": content_type})
    ev["isBase64Encoded"] = True
    assert fields(call("create_booking", ev)) == ["body"]


# -- headers on every answer --------------------------------------------------------------------


def assert_hardened(answer: Any, where: str, cache: str = "no-store") -> None:
    headers = {name.lower(): value for name, value in answer.headers.items()}
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("cache-control") == cache, where


@pytest.mark.parametrize("name", ROUTE_HANDLERS)
def test_every_answer_says_nosniff_and_no_store(name: str, slot: Slot) -> None:
    # But a board's success, which may be kept a second (test_room_routes.py says why).
    # Each handler's sample event as is (mostly 404: its ids are samples), without a token, and with a bad id.
    answers = {
        "sample": call(name, event(name)),
        "no token": call(name, event(name, role=None)),
        "bad id": call(name, event(name, path={key: "a b" for key in event(name).get("pathParameters") or {}})),
    }
    for how, answer in answers.items():
        assert_hardened(answer, f"{name}, {how}: {answer.status}", cache_control(name, answer.status))
    assert {answer.status for answer in answers.values()} & {200, 201, 202, 400, 401, 404}


def test_a_booking_and_a_queue_are_never_cached(slot: Slot) -> None:
    booked = call(
        "create_booking",
        event(
            "create_booking", body={"slotId": slot.slot_id, "patientId": "p-1", "source": "ONLINE"}, role="reception"
        ),
    )
    assert booked.status == 201
    for name, path in (
        ("get_booking", {"bookingId": booked.body["bookingId"]}),
        ("get_queue", {"slotId": slot.slot_id}),
        ("get_waitlist", {"slotId": slot.slot_id}),
        ("list_patient_bookings", {"patientId": "p-1"}),
        ("cancel_booking", {"bookingId": booked.body["bookingId"]}),
    ):
        answer = call(name, event(name, path=path, role="reception"))
        assert answer.status == 200
        assert_hardened(answer, name)


def test_an_internal_error_is_hardened_too(monkeypatch: pytest.MonkeyPatch, slot: Slot) -> None:
    def broken() -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(handler_module("get_queue"), "allocator", broken)
    answer = call("get_queue", event("get_queue", path={"slotId": slot.slot_id}))
    assert (answer.status, answer.code) == (500, "INTERNAL_ERROR")
    assert_hardened(answer, "500")
    assert json.dumps(answer.body).find("a bug") == -1  # the stack stays in the log
