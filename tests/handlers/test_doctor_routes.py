"""The doctor directory through its handlers (contract v3, "People"): PUT /doctors/{id} (admin), GET /doctors/{id}
and GET /doctors?department= (anyone), and the board's doctorName and room, driven by the events/ samples."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from opd.domain import Slot
from opd.service import Allocator
from tests.handlers.support import EVENTS, Answer, call, event

SAMPLE_DOCTOR = "dr-sample-001"  # the doctor the samples name


def put(doctor_id: str, body: Any, role: str = "admin") -> Answer:
    return call("put_doctor", event("put_doctor", path={"doctorId": doctor_id}, body=body, role=role))


def get(doctor_id: str) -> Answer:
    return call("get_doctor", event("get_doctor", path={"doctorId": doctor_id}))


def listing(department: str | None = None) -> Answer:
    query = None if department is None else {"department": department}
    return call("list_doctors", event("list_doctors", query=query))


def board(slot: Slot) -> Answer:
    day = slot.start.date().isoformat()
    return call("get_board", event("get_board", path={"doctorId": slot.doctor_id}, query={"date": day}))


def doctor(doctor_id: str, name: str, department: str, room: str | None = None, languages: Any = ()) -> dict[str, Any]:
    return {"doctorId": doctor_id, "name": name, "department": department, "room": room, "languages": list(languages)}


# -- the samples, as API Gateway would send them ---------------------------------------------------


def test_the_samples_record_a_doctor_read_it_back_and_list_it() -> None:
    sample_body = json.loads(json.loads((EVENTS / "put_doctor.json").read_text())["body"])
    recorded = call("put_doctor")
    assert recorded.status == 200, recorded.body
    assert recorded.body == {"doctorId": SAMPLE_DOCTOR, **sample_body}
    assert recorded.headers["Cache-Control"] == "no-store"

    read = call("get_doctor")
    assert (read.status, read.body) == (200, recorded.body)
    listed = call("list_doctors")  # the sample asks for the sample doctor's department
    assert (listed.status, listed.body) == (200, {"doctors": [recorded.body]})


def test_every_sample_names_the_route_its_handler_serves() -> None:
    for name, route in [
        ("put_doctor", "PUT /doctors/{doctorId}"),
        ("get_doctor", "GET /doctors/{doctorId}"),
        ("list_doctors", "GET /doctors"),
    ]:
        sample = json.loads((EVENTS / f"{name}.json").read_text())
        assert sample["routeKey"] == sample["requestContext"]["routeKey"] == route
        assert ("authorizer" in sample["requestContext"]) is (name == "put_doctor")  # the GETs are public


# -- PUT: created or replaced, whole ---------------------------------------------------------------


def test_a_put_creates_then_replaces_the_whole_record() -> None:
    first = put("dr-rao", {"name": "Dr Asha Rao", "department": "Cardiology", "room": "OPD-12", "languages": ["hi"]})
    assert (first.status, first.body) == (200, doctor("dr-rao", "Dr Asha Rao", "Cardiology", "OPD-12", ["hi"]))

    again = put("dr-rao", {"name": "Dr Asha Rao", "department": "Paediatrics"})  # no room, no languages now
    assert (again.status, again.body) == (200, doctor("dr-rao", "Dr Asha Rao", "Paediatrics"))
    assert get("dr-rao").body == again.body
    assert listing().body == {"doctors": [again.body]}


def test_texts_are_kept_trimmed_and_a_blank_room_is_none() -> None:
    answer = put("dr-sen", {"name": "  डॉ. अमित सेन ", "department": "Cardiology ", "room": " ", "languages": None})
    assert (answer.status, answer.body) == (200, doctor("dr-sen", "डॉ. अमित सेन", "Cardiology"))
    assert get("dr-sen").body == answer.body


@pytest.mark.parametrize("role", ["reception", "patient", "[doctor]", None])
def test_only_an_admin_records_a_doctor(role: str | None) -> None:
    answer = put("dr-rao", {"name": "Dr Rao", "department": "ENT"}, role=role)  # type: ignore[arg-type]
    assert (answer.status, answer.code) == ((401, "UNAUTHORIZED") if role is None else (403, "FORBIDDEN"))
    assert get("dr-rao").status == 404  # nothing recorded


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"department": "ENT"}, "name"),
        ({"name": "", "department": "ENT"}, "name"),
        ({"name": "   ", "department": "ENT"}, "name"),
        ({"name": "x" * 81, "department": "ENT"}, "name"),
        ({"name": 7, "department": "ENT"}, "name"),
        ({"name": "Dr\nRao", "department": "ENT"}, "name"),
        ({"name": "Dr Rao"}, "department"),
        ({"name": "Dr Rao", "department": "x" * 61}, "department"),
        ({"name": "Dr Rao", "department": None}, "department"),
        ({"name": "Dr Rao", "department": "ENT", "room": "x" * 21}, "room"),
        ({"name": "Dr Rao", "department": "ENT", "room": 12}, "room"),
        ({"name": "Dr Rao", "department": "ENT", "languages": ["fr"]}, "languages.0"),
        ({"name": "Dr Rao", "department": "ENT", "languages": ["en", "EN"]}, "languages.1"),
        ({"name": "Dr Rao", "department": "ENT", "languages": ["en", "en"]}, "languages"),
        ({"name": "Dr Rao", "department": "ENT", "languages": "en"}, "languages"),
        ({"name": "Dr Rao", "department": "ENT", "floor": 2}, "floor"),
        ({"name": "Dr Rao", "department": "ENT", "doctorId": "dr-rao"}, "doctorId"),
        (["Dr Rao", "ENT"], "body"),
        (None, "body"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field_and_records_nothing(body: Any, field: str) -> None:
    answer = put("dr-rao", body)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == [field]
    assert get("dr-rao").status == 404


def test_every_bad_field_is_named_at_once() -> None:
    answer = put("dr-rao", {"name": " ", "department": "x" * 61, "room": "x" * 21})
    assert (answer.status, [d["field"] for d in answer.details]) == (400, ["name", "department", "room"])


@pytest.mark.parametrize("name", ["put_doctor", "get_doctor"])
def test_a_doctor_id_outside_the_pattern_is_a_400(name: str) -> None:
    answer = call(name, event(name, path={"doctorId": "dr rao"}, role="admin"))
    assert (answer.status, [d["field"] for d in answer.details]) == (400, ["doctorId"])


# -- GET one, GET the list --------------------------------------------------------------------------


def test_a_doctor_never_recorded_is_a_404_even_with_slots(slot: Slot) -> None:
    answer = get(slot.doctor_id)
    assert (answer.status, answer.code) == (404, "NOT_FOUND")
    assert answer.body["error"]["message"] == f"no doctor {slot.doctor_id} is recorded"


def test_the_list_is_by_department_then_name_and_one_department_on_request() -> None:
    for doctor_id, name, department in [
        ("dr-5", "Dr Zaid", "Cardiology"),
        ("dr-1", "Dr Meena", "Orthopaedics"),
        ("dr-3", "Dr Bose", "Cardiology"),
        ("dr-2", "Dr Anand", "Orthopaedics"),
        ("dr-4", "Dr Chen", "ENT"),
    ]:
        assert put(doctor_id, {"name": name, "department": department}).status == 200
    everyone = listing()
    assert everyone.status == 200
    assert [(d["department"], d["name"]) for d in everyone.body["doctors"]] == [
        ("Cardiology", "Dr Bose"),
        ("Cardiology", "Dr Zaid"),
        ("ENT", "Dr Chen"),
        ("Orthopaedics", "Dr Anand"),
        ("Orthopaedics", "Dr Meena"),
    ]
    assert [d["doctorId"] for d in listing("Orthopaedics").body["doctors"]] == ["dr-2", "dr-1"]
    assert [d["doctorId"] for d in listing(" Cardiology ").body["doctors"]] == ["dr-3", "dr-5"]  # tidied as records
    assert listing("Dermatology").body == {"doctors": []}


@pytest.mark.parametrize("department", ["", "   ", "x" * 61, "ENT\u202e"])
def test_a_bad_department_is_a_400_naming_it(department: str) -> None:
    answer = listing(department)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == ["department"]


# -- the board names the doctor ------------------------------------------------------------------------


def test_the_board_shows_a_recorded_doctors_name_and_room(slot: Slot) -> None:
    assert put(slot.doctor_id, {"name": "Dr Asha Rao", "department": "Cardiology", "room": "OPD-12"}).status == 200
    answer = board(slot)
    assert answer.status == 200, answer.body
    assert (answer.body["doctorId"], answer.body["doctorName"], answer.body["room"]) == (
        slot.doctor_id,
        "Dr Asha Rao",
        "OPD-12",
    )
    assert [s["slotId"] for s in answer.body["slots"]] == [slot.slot_id]
    assert list(answer.body) == ["doctorId", "doctorName", "room", "date", "slots"]  # the contract's order

    put(slot.doctor_id, {"name": "Dr Asha Rao", "department": "Cardiology"})  # moved out of a room
    assert (board(slot).body["doctorName"], board(slot).body["room"]) == ("Dr Asha Rao", None)


def test_a_doctor_with_slots_but_no_record_is_shown_by_id(allocator: Allocator, slot: Slot) -> None:
    put("dr-someone-else", {"name": "Dr Someone Else", "department": "ENT", "room": "E-1"})
    answer = board(slot)
    assert answer.status == 200, answer.body
    assert (answer.body["doctorName"], answer.body["room"]) == (slot.doctor_id, None)
    assert [s["slotId"] for s in answer.body["slots"]] == [slot.slot_id]  # the slots work as before
    later = allocator.create_slot(slot.doctor_id, slot.end, slot.end + timedelta(hours=1))
    assert later.slot_id in [s["slotId"] for s in board(slot).body["slots"]]
