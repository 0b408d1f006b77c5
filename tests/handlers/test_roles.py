"""Who may call what (contract, "Roles"): 401 without a token, 403 for a role that may not, per endpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devserver.motoserver import take_sms
from opd.api.auth import Role, groups_of
from opd.doctors import DoctorStore
from opd.domain import Doctor, Slot, Source, Status
from opd.domain.patients import register
from opd.patients import SEARCH_KEYS, PatientStore
from opd.service import Allocator
from opd.settings import current as current_settings
from tests.handlers.support import PATIENT, ROUTE_HANDLERS, call, event
from tests.support.signin import code_in

PUBLIC = {None, "patient", "reception", "admin", "[doctor]"}
ALLOWED: dict[str, set[str | None]] = {
    "health": PUBLIC,
    "get_slot": PUBLIC,
    "list_doctor_slots": PUBLIC,
    "create_slot": {"admin"},
    "set_delay": {"admin"},
    "get_queue": {"reception", "admin"},
    "create_booking": {"patient", "reception", "admin"},
    "get_booking": {"patient", "reception", "admin"},
    "cancel_booking": {"patient", "reception", "admin"},
    "check_in_booking": {"reception", "admin"},
    "mark_no_show": {"reception", "admin"},
    "complete_booking": {"reception", "admin"},
    "call_next": {"reception", "admin"},
    "skip_booking": {"reception", "admin"},
    "reschedule_booking": {"patient", "reception", "admin"},
    "get_board": PUBLIC,
    "get_waitlist": {"reception", "admin"},
    "list_patient_bookings": {"patient", "reception", "admin"},  # a patient their own only: see below
    "open_sessions": {"admin"},
    "take_leave": {"admin"},
    "put_doctor": {"admin"},
    "get_doctor": PUBLIC,
    "list_doctors": PUBLIC,
    "register_patient": {"reception", "admin"},
    "search_patients": {"reception", "admin"},
    "get_patient": {"patient", "reception", "admin"},  # a patient their own only: see test_patient_routes.py
    "update_patient": {"patient", "reception", "admin"},
    "get_status": PUBLIC,  # the status link: whoever has the code
    "request_code": PUBLIC,  # sign-in by phone: whoever has the phone
    "verify_code": PUBLIC,
    "get_daily_reports": {"admin"},  # the days over (none here): an admin's only
    "put_counter": {"admin"},
    "issue_counter_token": {"reception", "admin"},
    "counter_call_next": {"reception", "admin"},
    "get_counter_queue": {"reception", "admin"},
    "get_counter_board": PUBLIC,
}
CREATED = {"create_slot", "create_booking", "reschedule_booking", "open_sessions", "register_patient"}
CREATED |= {"issue_counter_token"}
ACCEPTED = {"request_code"}  # 202: the code is on its way
ROLES = [None, "patient", "reception", "admin", "[doctor]"]  # "[doctor]": a group the service does not know


def real_event(
    name: str, allocator: Allocator, slot: Slot, role: str | None, user: str | None = None
) -> dict[str, Any]:
    """The sample event of `name` made valid against this test's slot, with a booking of PATIENT where needed."""
    if name == "create_slot":
        start = slot.end + timedelta(hours=1)
        body = {"doctorId": slot.doctor_id, "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
        return event(name, body=body, role=role, user=user)
    if name == "create_booking":
        body = {"slotId": slot.slot_id, "patientId": PATIENT, "source": "ONLINE"}
        return event(name, body=body, role=role, user=user)
    if name in {"list_doctor_slots", "get_board"}:
        query = {"date": slot.start.date().isoformat()}
        return event(name, path={"doctorId": slot.doctor_id}, query=query, role=role, user=user)
    if name == "open_sessions":  # one slot, the day after the slot's
        day = (slot.start + timedelta(days=1)).date().isoformat()
        session = {"from": day, "to": day, "start": "09:00", "end": "09:30", "slotMinutes": 30}
        return event(name, path={"doctorId": slot.doctor_id}, body=session, role=role, user=user)
    if name in {"get_slot", "get_queue", "set_delay", "get_waitlist"}:
        return event(name, path={"slotId": slot.slot_id}, role=role, user=user)
    if name in {"health", "list_doctors", "get_daily_reports"}:
        return event(name, role=role, user=user)
    if name in {"put_counter", "issue_counter_token", "counter_call_next", "get_counter_queue", "get_counter_board"}:
        return event(name, role=role, user=user)  # the samples' counter, today
    if name == "put_doctor":  # the sample's record, for the slot's doctor
        return event(name, path={"doctorId": slot.doctor_id}, role=role, user=user)
    if name == "get_doctor":  # a doctor who is recorded: every role reads it
        DoctorStore(allocator.store.collection.database["doctors"]).record(Doctor.of(slot.doctor_id, "Dr Rao", "ENT"))
        return event(name, path={"doctorId": slot.doctor_id}, role=role, user=user)
    if name in {"request_code", "verify_code"}:  # a phone of its own, and for verify the code it was sent
        phone = f"+9197{uuid.uuid4().int % 10**8:08d}"
        if name == "request_code":
            return event(name, body={"phone": phone}, role=role, user=user)
        assert call("request_code", event("request_code", body={"phone": phone})).status == 202
        [(_, text)] = take_sms("")
        return event(name, body={"phone": phone, "code": code_in(text)}, role=role, user=user)
    if name in {"register_patient", "search_patients"}:  # the samples: Ravi Kumar, and a search for him
        return event(name, role=role, user=user)
    if name in {"get_patient", "update_patient"}:  # the sample patient's own record, which they may read and change
        now = datetime.now(UTC).replace(microsecond=0)
        PatientStore(allocator.store.collection.database["patients"]).insert(
            register(PATIENT, {"name": "Asha"}, now, 2000)
        )
        return event(name, path={"patientId": PATIENT}, role=role, user=user)
    booking = allocator.book(slot.slot_id, PATIENT, Source.ONLINE)
    if name == "get_status":  # the booking's own status link
        return event(name, path={"code": str(booking.status_code)}, role=role, user=user)
    if name == "list_patient_bookings":  # the sample patient's own, over the default days
        return event(name, path={"patientId": PATIENT}, query=None, role=role, user=user)
    if name == "take_leave":  # the slot's day, with a booking to cancel: a refused caller leaves it as it is
        body = {"date": slot.start.date().isoformat()}
        return event(name, path={"doctorId": slot.doctor_id}, body=body, role=role, user=user)
    if name in {"complete_booking", "call_next", "skip_booking"}:
        allocator.check_in(booking.booking_id)  # call-next has someone to call: an allowed call changes the slot
    if name == "call_next":
        return event(name, path={"slotId": slot.slot_id}, role=role, user=user)
    if name == "skip_booking":
        allocator.call_next(slot.slot_id, by="desk-1")
    if name == "reschedule_booking":
        target = allocator.create_slot(slot.doctor_id, slot.end + timedelta(hours=2), slot.end + timedelta(hours=3))
        path, body = {"bookingId": booking.booking_id}, {"slotId": target.slot_id}
        return event(name, path=path, body=body, role=role, user=user)
    return event(name, path={"bookingId": booking.booking_id}, role=role, user=user)


def stored(allocator: Allocator, slot: Slot) -> tuple[int, Slot, list[list[dict[str, Any]]]]:
    """How many slots exist, this one as stored (its bookings, delay and version), the doctor directory, and the
    patient register with its search keys."""
    database = allocator.store.collection.database
    people = [list(database[name].find()) for name in ("doctors", "patients", SEARCH_KEYS)]
    return allocator.store.collection.count_documents({}), allocator.get_slot(slot.slot_id), people


def expected_status(name: str, role: str | None) -> int:
    if role in ALLOWED[name]:
        return 201 if name in CREATED else 202 if name in ACCEPTED else 200
    return 401 if role is None else 403


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_role_matrix(allocator: Allocator, slot: Slot, name: str, role: str | None) -> None:
    ev = real_event(name, allocator, slot, role)
    before = stored(allocator, slot)
    answer = call(name, ev)
    assert answer.status == expected_status(name, role), answer.body
    if answer.status in (401, 403):
        assert answer.code == {401: "UNAUTHORIZED", 403: "FORBIDDEN"}[answer.status]
        assert stored(allocator, slot) == before  # a refused caller changes nothing


@pytest.mark.parametrize("name", ["get_booking", "cancel_booking"])
def test_a_patient_sees_and_cancels_only_their_own_booking(allocator: Allocator, slot: Slot, name: str) -> None:
    theirs = real_event(name, allocator, slot, "patient", user="patient-someone-else")
    answer = call(name, theirs)
    assert (answer.status, answer.code) == (404, "NOT_FOUND")
    assert [b.status for b in allocator.get_slot(slot.slot_id).bookings] == [Status.BOOKED]
    # Word for word what an id that was never given gets (contract: "another patient's booking is 404").
    booking_id = theirs["pathParameters"]["bookingId"]
    unknown_id = f"{booking_id[:-4]}0000" if not booking_id.endswith("0000") else f"{booking_id[:-4]}1111"
    unknown = call(name, event(name, path={"bookingId": unknown_id}, role="patient", user="patient-someone-else"))
    assert answer.headers == unknown.headers
    assert answer.body == {"error": {**unknown.body["error"], "message": f"no booking {booking_id}"}}
    assert unknown.body["error"]["message"] == f"no booking {unknown_id}"


@pytest.mark.parametrize("name", ["get_booking", "cancel_booking"])
def test_a_role_that_may_not_read_bookings_learns_nothing_about_ids(
    allocator: Allocator, slot: Slot, name: str
) -> None:
    # The role is checked before the lookup: 403 whether the id exists or not.
    existing = call(name, real_event(name, allocator, slot, "[doctor]"))
    unknown = call(name, event(name, path={"bookingId": f"{slot.slot_id}.0000"}, role="[doctor]"))
    assert (existing.status, existing.body) == (unknown.status, unknown.body) == (403, existing.body)
    assert existing.code == "FORBIDDEN"


def test_a_patient_lists_only_their_own_bookings(allocator: Allocator, slot: Slot) -> None:
    """Another patient's list is 403 (contract, "Roles": anything else is 403), the same whether that
    patient has bookings or not, so a refusal tells nothing about who has booked."""
    allocator.book(slot.slot_id, "patient-someone-else", Source.ONLINE)

    def listing(patient_id: str) -> Any:
        ev = event("list_patient_bookings", path={"patientId": patient_id}, query=None, role="patient")
        return call("list_patient_bookings", ev)

    theirs, nobodys = listing("patient-someone-else"), listing("patient-nobody")
    assert (theirs.status, theirs.code) == (403, "FORBIDDEN")
    assert (nobodys.status, nobodys.body) == (403, theirs.body)
    assert listing(PATIENT).body == {"bookings": [], "next": None}  # their own: none here


@pytest.mark.parametrize(
    ("patient_id", "source"),
    [("patient-someone-else", "ONLINE"), (PATIENT, "WALKIN"), (PATIENT, "EMERGENCY")],
)
def test_a_patient_books_online_for_themselves_only(
    allocator: Allocator, slot: Slot, patient_id: str, source: str
) -> None:
    body = {"slotId": slot.slot_id, "patientId": patient_id, "source": source}
    answer = call("create_booking", event("create_booking", body=body, role="patient"))
    assert (answer.status, answer.code) == (403, "FORBIDDEN")
    assert allocator.get_slot(slot.slot_id).bookings == ()


@pytest.mark.parametrize("source", ["WALKIN", "PAID", "FOLLOWUP", "EMERGENCY"])
def test_reception_books_any_source_for_anyone(slot: Slot, source: str) -> None:
    body = {"slotId": slot.slot_id, "patientId": f"walk-in-{source}", "source": source}
    answer = call("create_booking", event("create_booking", body=body, role="reception"))
    assert (answer.status, answer.body["patientId"]) == (201, f"walk-in-{source}")


def test_several_groups_count_as_the_strongest(allocator: Allocator, slot: Slot) -> None:
    answer = call("get_queue", real_event("get_queue", allocator, slot, "[patient reception]"))
    assert answer.status == 200


def test_a_token_without_a_username_is_401(allocator: Allocator, slot: Slot) -> None:
    ev = real_event("get_queue", allocator, slot, "reception")
    del ev["requestContext"]["authorizer"]["jwt"]["claims"]["username"]
    answer = call("get_queue", ev)
    assert (answer.status, answer.code) == (401, "UNAUTHORIZED")


def test_auth_off_treats_every_caller_as_admin(
    monkeypatch: pytest.MonkeyPatch, allocator: Allocator, slot: Slot
) -> None:
    monkeypatch.setenv("OPD_AUTH", "off")
    current_settings.cache_clear()  # read again, as a new execution environment would
    for name in ("create_slot", "set_delay", "get_queue", "check_in_booking"):
        answer = call(name, real_event(name, allocator, slot, role=None))
        assert answer.status == expected_status(name, "admin"), (name, answer.body)


@pytest.mark.parametrize(
    ("claim", "roles"),
    [
        ("[admin reception]", {Role.ADMIN, Role.RECEPTION}),
        ("[patient]", {Role.PATIENT}),
        ("admin", {Role.ADMIN}),
        (["reception", "cleaner"], {Role.RECEPTION}),
        ("[]", set()),
        (None, set()),
        ("[Admin]", set()),  # Cognito group names are case-sensitive
    ],
)
def test_groups_claim_forms(claim: object, roles: set[Role]) -> None:
    assert groups_of(claim) == roles


def test_the_matrix_covers_every_route_handler() -> None:
    functions = Path(__file__).resolve().parents[2] / "functions"
    scheduled_or_bus = {"sweep_no_shows", "relay_events", "publish_events", "notify_sms", "abdm_on_share"}  # no route
    scheduled_or_bus |= {"abdm_profile_share"}  # the ABDM gateway's signed token, not a role (test_abdm_routes.py)
    scheduled_or_bus |= {"auth_define_challenge", "auth_create_challenge", "auth_verify_challenge"}  # Cognito's
    handlers = {p.parent.name for p in functions.glob("*/app.py")} - scheduled_or_bus
    assert handlers == set(ROUTE_HANDLERS) - {"abdm_profile_share"} == set(ALLOWED)
