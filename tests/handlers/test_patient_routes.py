"""The patient register through its handlers (contract v3, "People"): POST /patients and GET /patients?q= (reception,
admin), GET and PATCH /patients/{patientId} (the patient themself, reception, admin), driven by the events/ samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opd import runtime
from opd.domain.patients import Patient, register
from tests.handlers.support import EVENTS, PATIENT, Answer, call, event

PATIENT_KEYS = ["patientId", "name", "phone", "yearOfBirth", "sex", "language", "abhaAddress", "createdAt", "updatedAt"]
RAVI = {
    "name": "Ravi Kumar",
    "phone": "+919876543210",
    "yearOfBirth": 1984,
    "sex": "M",
    "language": "ta",
    "abhaAddress": "ravi.kumar@sbx",
}


def this_year() -> int:
    return datetime.now(runtime.settings().clinic_zone).year


def enrol(body: Any, role: str | None = "reception") -> Answer:
    return call("register_patient", event("register_patient", body=body, role=role))


def search(q: str | None, role: str | None = "reception") -> Answer:
    return call("search_patients", event("search_patients", query=None if q is None else {"q": q}, role=role))


def read(patient_id: str, role: str | None = "reception", user: str | None = None) -> Answer:
    return call("get_patient", event("get_patient", path={"patientId": patient_id}, role=role, user=user))


def change(patient_id: str, body: Any, role: str | None = "reception", user: str | None = None) -> Answer:
    ev = event("update_patient", path={"patientId": patient_id}, body=body, role=role, user=user)
    return call("update_patient", ev)


def found(q: str) -> list[str]:
    answer = search(q)
    assert answer.status == 200, answer.body
    return [p["patientId"] for p in answer.body["patients"]]


def sample_body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.loads((EVENTS / f"{name}.json").read_text())["body"])
    return loaded


@pytest.fixture
def own_record() -> Patient:
    """The sample patient's own record (the id their token names), as a phone sign-in or the desk would make it."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = register(PATIENT, {"name": "Asha Verma", "phone": "+919876500001"}, now, this_year())
    assert runtime.patient_store().insert(made)
    return made


# -- the samples, as API Gateway would send them ---------------------------------------------------------------


def test_the_samples_register_find_read_and_change_a_patient(own_record: Patient) -> None:
    made = call("register_patient")
    assert made.status == 201, made.body
    assert list(made.body) == PATIENT_KEYS  # the contract's Patient, in its order, and no version
    assert {key: made.body[key] for key in RAVI} == sample_body("register_patient")
    assert made.body["patientId"].startswith("pt-") and made.body["createdAt"] == made.body["updatedAt"]
    assert made.headers["Cache-Control"] == "no-store"

    listed = call("search_patients")  # q=ravi, as reception
    assert (listed.status, listed.body) == (200, {"patients": [made.body]})

    own = call("get_patient")  # the sample patient reads their own record
    assert own.status == 200, own.body
    assert (own.body["patientId"], own.body["name"], own.body["phone"]) == (PATIENT, "Asha Verma", "+919876500001")
    changed = call("update_patient")  # and changes their phone and language
    assert changed.status == 200, changed.body
    assert {key: changed.body[key] for key in ("phone", "language")} == sample_body("update_patient")
    assert changed.body["name"] == "Asha Verma" and changed.body["createdAt"] == own.body["createdAt"]
    assert read(PATIENT).body == changed.body


def test_every_sample_names_the_route_its_handler_serves() -> None:
    for name, route in [
        ("register_patient", "POST /patients"),
        ("search_patients", "GET /patients"),
        ("get_patient", "GET /patients/{patientId}"),
        ("update_patient", "PATCH /patients/{patientId}"),
    ]:
        sample = json.loads((EVENTS / f"{name}.json").read_text())
        assert sample["routeKey"] == sample["requestContext"]["routeKey"] == route
        assert sample["requestContext"]["http"]["method"] == route.split()[0]
        assert "authorizer" in sample["requestContext"]  # none of them is public


# -- POST /patients --------------------------------------------------------------------------------------------


def test_a_registration_with_only_a_name_and_every_id_its_own() -> None:
    first, second = enrol({"name": "  Lakshmi   Iyer "}), enrol({"name": "Lakshmi Iyer"})
    assert (first.status, second.status) == (201, 201)
    assert first.body["name"] == "Lakshmi Iyer"  # tidied
    assert [first.body[key] for key in PATIENT_KEYS[2:7]] == [None] * 5
    assert first.body["patientId"] != second.body["patientId"]  # two patients: names are not unique
    assert read(first.body["patientId"]).body == first.body


@pytest.mark.parametrize("name", ["A", "\U00024d03", "R. K"])
def test_a_name_too_short_to_search_by_is_registered_and_found_by_phone_once_it_has_one(name: str) -> None:
    """A one-letter word makes no key (a key is 2 letters or more): the patient has none until given a phone."""
    made = enrol({"name": name})
    assert made.status == 201, made.body
    changed = change(made.body["patientId"], {"phone": "+919876512345"})
    assert changed.status == 200, changed.body
    assert found("12345") == [made.body["patientId"]]


def test_a_year_of_birth_up_to_this_year_in_the_clinics_zone() -> None:
    assert enrol({"name": "Baby Rao", "yearOfBirth": this_year()}).status == 201
    answer = enrol({"name": "Baby Rao", "yearOfBirth": this_year() + 1})
    assert (answer.status, [d["field"] for d in answer.details]) == (400, ["yearOfBirth"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+919876543210"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "Ravi 2"}, "name"),
        ({"name": "Ravi\nKumar"}, "name"),
        ({"name": None}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Ravi", "phone": "9876543210"}, "phone"),
        ({"name": "Ravi", "phone": 919876543210}, "phone"),
        ({"name": "Ravi", "yearOfBirth": 1899}, "yearOfBirth"),
        ({"name": "Ravi", "yearOfBirth": "1984"}, "yearOfBirth"),
        ({"name": "Ravi", "yearOfBirth": True}, "yearOfBirth"),
        ({"name": "Ravi", "yearOfBirth": 1984.5}, "yearOfBirth"),
        ({"name": "Ravi", "sex": "X"}, "sex"),
        ({"name": "Ravi", "sex": "m"}, "sex"),
        ({"name": "Ravi", "language": "fr"}, "language"),
        ({"name": "Ravi", "abhaAddress": "ravi.kumar"}, "abhaAddress"),
        ({"name": "Ravi", "abhaAddress": "r@"}, "abhaAddress"),
        ({"name": "Ravi", "abhaAddress": "x" * 58 + "@sbx"}, "abhaAddress"),
        ({"name": "Ravi", "patientId": "pt-mine"}, "patientId"),
        ({"name": "Ravi", "age": 40}, "age"),
        (["Ravi"], "body"),
        (None, "body"),
    ],
)
def test_a_bad_registration_is_a_400_naming_the_field_and_registers_nobody(body: Any, field: str) -> None:
    answer = enrol(body)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == [field]
    assert runtime.patient_store().collection.count_documents({}) == 0


def test_every_bad_field_is_named_at_once() -> None:
    body = {"name": "R2", "phone": "123", "yearOfBirth": 1800, "sex": "X", "language": "fr", "abhaAddress": "nope"}
    answer = enrol(body)
    assert (answer.status, [d["field"] for d in answer.details]) == (400, list(body))


def test_an_abha_address_another_patient_holds_is_409_patient_exists() -> None:
    holder = enrol(RAVI)
    assert holder.status == 201, holder.body
    again = enrol({"name": "Ravi K", "abhaAddress": "Ravi.Kumar@SBX"})  # the same address, in other case
    assert (again.status, again.code) == (409, "PATIENT_EXISTS")
    assert again.details == [{"patientId": holder.body["patientId"]}]
    assert found("ravi") == [holder.body["patientId"]]  # nobody else registered


@pytest.mark.parametrize(("role", "status"), [("patient", 403), ("[doctor]", 403), (None, 401)])
def test_only_staff_register(role: str | None, status: int) -> None:
    assert enrol(RAVI, role=role).status == status
    assert runtime.patient_store().collection.count_documents({}) == 0


# -- GET /patients?q= ------------------------------------------------------------------------------------------


def test_the_search_finds_by_a_words_start_or_the_phones_end_by_name() -> None:
    ids = {}
    for name, phone in [("Ravi Kumar", "+919876543210"), ("Kumari Devi", "+919812343210"), ("राहुल शर्मा", None)]:
        answer = enrol({"name": name, "phone": phone})
        assert answer.status == 201, answer.body
        ids[name] = answer.body["patientId"]
    assert found("kum") == [ids["Kumari Devi"], ids["Ravi Kumar"]]
    assert found("KUMARI") == [ids["Kumari Devi"]]
    assert found("3210") == [ids["Kumari Devi"], ids["Ravi Kumar"]]
    assert found("+91 98765 43210") == [ids["Ravi Kumar"]]
    assert found("शर्") == [ids["राहुल शर्मा"]]
    assert found("zz") == []
    whole = search("ravi").body["patients"]
    assert whole == [read(ids["Ravi Kumar"]).body]  # each the whole Patient


def test_the_search_answers_at_most_20() -> None:
    for _ in range(22):
        assert enrol({"name": "Priya Nair"}).status == 201
    answer = search("nair")
    assert answer.status == 200 and len(answer.body["patients"]) == 20
    assert [p["patientId"] for p in answer.body["patients"]] == sorted(p["patientId"] for p in answer.body["patients"])


@pytest.mark.parametrize("q", [None, "", "a", " a ", "x" * 65, "--", "12"])
def test_a_query_that_is_no_search_is_a_400_naming_q(q: str | None) -> None:
    answer = search(q)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == ["q"]


@pytest.mark.parametrize(("role", "status"), [("patient", 403), ("[doctor]", 403), (None, 401)])
def test_a_patient_may_not_search(role: str | None, status: int) -> None:
    assert enrol(RAVI).status == 201
    answer = search("ravi", role=role)
    assert answer.status == status
    assert "patients" not in answer.body


# -- GET and PATCH /patients/{patientId} -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_patient", "update_patient"])
def test_another_patients_record_is_a_404_as_an_unknown_id_is(own_record: Patient, name: str) -> None:
    other = enrol(RAVI).body["patientId"]
    body = {"phone": "+919800000000"}
    theirs = call(name, event(name, path={"patientId": other}, body=body, role="patient"))
    unknown = call(name, event(name, path={"patientId": "pt-nobody"}, body=body, role="patient"))
    assert (theirs.status, theirs.code) == (404, "NOT_FOUND")
    assert theirs.body == {"error": {**unknown.body["error"], "message": f"no patient {other}"}}
    assert unknown.body["error"]["message"] == "no patient pt-nobody"
    assert read(other).body["phone"] == RAVI["phone"]  # unchanged
    staff_unknown = call(name, event(name, path={"patientId": "pt-nobody"}, body=body, role="reception"))
    assert (staff_unknown.status, staff_unknown.body) == (404, unknown.body)


def test_staff_read_and_change_any_patient_and_the_search_follows() -> None:
    made = enrol(RAVI).body
    assert read(made["patientId"], role="admin").body == made
    changed = change(made["patientId"], {"name": "Ravi Shankar", "phone": None, "sex": "U"}, role="admin")
    assert changed.status == 200, changed.body
    assert (changed.body["name"], changed.body["phone"], changed.body["sex"]) == ("Ravi Shankar", None, "U")
    assert (changed.body["yearOfBirth"], changed.body["abhaAddress"]) == (1984, "ravi.kumar@sbx")  # kept
    assert changed.body["createdAt"] == made["createdAt"] and changed.body["updatedAt"] >= made["updatedAt"]
    assert read(made["patientId"]).body == changed.body
    assert found("shan") == [made["patientId"]] and found("kumar") == [] and found("3210") == []


def test_a_patient_changes_their_own_record(own_record: Patient) -> None:
    answer = change(PATIENT, {"name": "Asha Iyer", "yearOfBirth": 1990}, role="patient")
    assert answer.status == 200, answer.body
    assert (answer.body["name"], answer.body["yearOfBirth"], answer.body["phone"]) == (
        "Asha Iyer",
        1990,
        "+919876500001",
    )
    assert read(PATIENT, role="patient").body == answer.body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),  # once given, a name stays
        ({"name": ""}, "name"),
        ({"yearOfBirth": 9999}, "yearOfBirth"),
        ({"phone": "+91 98765"}, "phone"),
        ({"sex": "female"}, "sex"),
        ({"language": "EN"}, "language"),
        ({"abhaAddress": "@sbx"}, "abhaAddress"),
        ({"patientId": "pt-2"}, "patientId"),
        ({"createdAt": "2030-01-01T00:00:00Z"}, "createdAt"),
        ("not json", "body"),
    ],
)
def test_a_bad_change_is_a_400_naming_the_field_and_changes_nothing(body: Any, field: str) -> None:
    made = enrol(RAVI).body
    answer = change(made["patientId"], body)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == [field]
    assert read(made["patientId"]).body == made


def test_a_change_to_an_abha_address_another_holds_is_409_and_changes_nothing() -> None:
    holder, other = enrol(RAVI).body, enrol({"name": "Anil"}).body
    answer = change(other["patientId"], {"abhaAddress": "RAVI.KUMAR@sbx", "name": "Anil Kumar"})
    assert (answer.status, answer.code, answer.details) == (409, "PATIENT_EXISTS", [{"patientId": holder["patientId"]}])
    assert read(other["patientId"]).body == other
    assert change(holder["patientId"], {"abhaAddress": None}).status == 200  # let go of it
    moved = change(other["patientId"], {"abhaAddress": "ravi.kumar@sbx"})
    assert (moved.status, moved.body["abhaAddress"]) == (200, "ravi.kumar@sbx")


def test_an_empty_change_answers_the_record_as_it_is() -> None:
    made = enrol(RAVI).body
    assert (change(made["patientId"], {}).status, change(made["patientId"], {}).body) == (200, made)


@pytest.mark.parametrize("name", ["get_patient", "update_patient"])
def test_a_patient_id_outside_the_pattern_is_a_400(name: str) -> None:
    answer = call(name, event(name, path={"patientId": "pt 1"}, body={"sex": "F"}, role="reception"))
    assert (answer.status, [d["field"] for d in answer.details]) == (400, ["patientId"])


def test_a_role_the_service_does_not_know_is_403_whether_the_record_exists_or_not() -> None:
    made = enrol(RAVI).body["patientId"]
    for name in ("get_patient", "update_patient"):
        existing = call(name, event(name, path={"patientId": made}, body={"sex": "F"}, role="[doctor]"))
        unknown = call(name, event(name, path={"patientId": "pt-nobody"}, body={"sex": "F"}, role="[doctor]"))
        assert (existing.status, existing.body) == (unknown.status, unknown.body) == (403, existing.body)
