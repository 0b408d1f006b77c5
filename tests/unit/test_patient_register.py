"""The patient register's operations over in-memory records: the service's ids, "this year" in the clinic's zone,
and a change applied again to a record that moved on under it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from opd.domain.languages import Language
from opd.domain.patients import NameAndLanguage, Patient, Sex
from opd.errors import NotFound, SlotBusy, ValidationFailed
from opd.service import PatientRegister
from opd.settings import Settings

NOW = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)


class Records:
    """PatientRecords in a dict, fenced by version as the store is; `before_update` runs first (another writer)."""

    def __init__(self) -> None:
        self.kept: dict[str, Patient] = {}
        self.before_update: Callable[[], None] = lambda: None
        self.updates = 0

    def insert(self, patient: Patient) -> bool:
        if patient.patient_id in self.kept:
            return False
        self.kept[patient.patient_id] = patient
        return True

    def get(self, patient_id: str) -> Patient | None:
        return self.kept.get(patient_id)

    def name_and_language(self, patient_id: str) -> NameAndLanguage:
        found = self.kept.get(patient_id)
        return NameAndLanguage() if found is None else NameAndLanguage(found.name, found.language)

    def update(self, before: Patient, after: Patient) -> Patient | None:
        self.updates += 1
        self.before_update()
        current = self.kept.get(before.patient_id)
        if current is None or current.version != before.version:
            return None
        written = replace(after, version=before.version + 1)
        self.kept[written.patient_id] = written
        return written

    def search(self, q: str) -> list[Patient]:
        return []

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]:
        return {i: p.name for i in patient_ids if (p := self.kept.get(i)) is not None and p.name is not None}


def ids(*drawn: str) -> Callable[[], str]:
    pending = list(drawn)
    return lambda: pending.pop(0)


@pytest.fixture
def records() -> Records:
    return Records()


def test_a_patient_is_registered_under_the_services_id_at_its_clock(records: Records) -> None:
    register = PatientRegister(records, clock=lambda: NOW, new_id=ids("pt-1"))
    patient = register.register({"name": "Ravi Kumar", "sex": "M"})
    assert patient == Patient("pt-1", "Ravi Kumar", NOW, NOW, sex=Sex.M)
    assert register.get("pt-1") == patient == records.kept["pt-1"]


def test_an_id_already_taken_is_drawn_again(records: Records) -> None:
    records.kept["pt-1"] = Patient("pt-1", "Asha", NOW, NOW)
    register = PatientRegister(records, clock=lambda: NOW, new_id=ids("pt-1", "pt-2"))
    assert register.register({"name": "Ravi"}).patient_id == "pt-2"
    assert records.kept["pt-1"].name == "Asha"


@pytest.mark.parametrize(("zone", "accepted"), [("Asia/Kolkata", True), ("UTC", False)])
def test_this_year_is_the_clinics(records: Records, zone: str, accepted: bool) -> None:
    """20:00 UTC on New Year's Eve is already 01:30 on New Year's Day in India: a baby born then is 2027's."""
    eve = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    register = PatientRegister(records, Settings(clinic_time_zone=zone), clock=lambda: eve, new_id=ids("pt-1"))
    if accepted:
        assert register.register({"name": "Baby Rao", "yearOfBirth": 2027}).year_of_birth == 2027
    else:
        with pytest.raises(ValidationFailed) as refused:
            register.register({"name": "Baby Rao", "yearOfBirth": 2027})
        assert [d["field"] for d in refused.value.details] == ["yearOfBirth"]
        assert records.kept == {}


def test_an_unknown_patient_is_not_found(records: Records) -> None:
    register = PatientRegister(records)
    with pytest.raises(NotFound) as missing:
        register.get("pt-x")
    assert missing.value.message == "no patient pt-x"
    with pytest.raises(NotFound) as missing:
        register.amend("pt-x", {"sex": "F"})
    assert missing.value.message == "no patient pt-x"


def test_a_change_that_lost_its_race_is_applied_to_the_record_as_it_is_now(records: Records) -> None:
    records.kept["pt-1"] = Patient("pt-1", "Meena", NOW, NOW, phone="+919876500002")
    register = PatientRegister(records, clock=lambda: NOW)

    def another_desk() -> None:  # changes the phone between this request's read and its write, once
        records.before_update = lambda: None
        current = records.kept["pt-1"]
        records.kept["pt-1"] = replace(current, phone="+919876500003", version=current.version + 1)

    records.before_update = another_desk
    written = register.amend("pt-1", {"name": "Meena Raj", "language": "hi"})
    assert (written.name, written.phone, written.language, written.version) == ("Meena Raj", "+919876500003", "hi", 2)
    assert records.kept["pt-1"] == written and records.updates == 2


def test_a_record_that_keeps_changing_is_a_busy_answer_after_a_few_tries(records: Records) -> None:
    records.kept["pt-1"] = Patient("pt-1", "Meena", NOW, NOW)

    def always_first() -> None:
        current = records.kept["pt-1"]
        records.kept["pt-1"] = replace(current, version=current.version + 1)

    records.before_update = always_first
    register = PatientRegister(records, Settings(write_attempts=3), clock=lambda: NOW)
    with pytest.raises(SlotBusy):
        register.amend("pt-1", {"sex": "F"})
    assert records.updates == 3 and records.kept["pt-1"].sex is None


def test_an_empty_change_writes_nothing(records: Records) -> None:
    records.kept["pt-1"] = Patient("pt-1", "Meena", NOW, NOW)
    assert PatientRegister(records).amend("pt-1", {}) == records.kept["pt-1"]
    assert records.updates == 0


def test_a_patients_language_is_read_from_their_record(records: Records) -> None:
    register = PatientRegister(records, clock=lambda: NOW, new_id=ids("pt-1", "pt-2"))
    register.register({"name": "Kavya S", "language": "ta"})
    register.register({"name": "Ravi Kumar"})
    assert [register.name_and_language(p).language for p in ("pt-1", "pt-2", "pt-none")] == [Language.TA, None, None]
