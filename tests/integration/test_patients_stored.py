"""The patient register on the real server (nx-27017; a real MongoDB when MONGODB_URI is set): a patient kept and
read back, changed, found by the start of a word of the name in three scripts or by the phone's last digits,
and ABHA addresses unique while any number of patients have none."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pymongo import MongoClient

from opd.domain.languages import Language
from opd.domain.patients import Patient, Sex, amend
from opd.errors import PatientExists, ValidationFailed
from opd.mongo import Document
from opd.patients import PatientStore
from tests.support.patients import LATER, NOW, THIS_YEAR, registered


@pytest.fixture
def store(mongo_client: MongoClient[Document], database_name: str) -> PatientStore:
    made = PatientStore(mongo_client[database_name]["patients"])
    made.ensure_indexes()
    return made


def found(store: PatientStore, q: str) -> list[str]:
    return [p.patient_id for p in store.search(q)]


def test_a_patient_is_read_back_as_registered(store: PatientStore) -> None:
    ravi = registered(
        store,
        "pt-ravi",
        name="Ravi Kumar",
        phone="+919876543210",
        yearOfBirth=1984,
        sex="M",
        language="ta",
        abhaAddress="ravi.kumar@sbx",
    )
    assert store.get("pt-ravi") == ravi
    assert store.get("pt-nobody") is None
    bare = Patient("pt-phone", None, NOW, NOW, phone="+919000000001")  # signed in by phone, no name yet
    store.insert(bare)
    assert store.get("pt-phone") == bare
    assert store.holding("ravi.kumar@sbx") == ravi
    assert store.holding("nobody@sbx") is None


def test_names_are_read_for_many_patients_at_once_and_only_for_the_registered_named(store: PatientStore) -> None:
    registered(store, "pt-a", name="Asha Verma")
    registered(store, "pt-b", name="முருகன் ராஜா")
    store.insert(Patient("pt-phone", None, NOW, NOW, phone="+919000000001"))  # signed in by phone, no name yet
    asked = ["pt-b", "pt-a", "pt-a", "pt-phone", "walkin-unregistered"]
    assert store.names_of(asked) == {"pt-a": "Asha Verma", "pt-b": "முருகன் ராஜா"}
    assert store.names_of([]) == {}


def test_an_update_writes_the_change_and_the_search_follows_the_new_name(store: PatientStore) -> None:
    before = registered(store, "pt-1", name="Asha Verma", phone="+919876500001", sex="F", abhaAddress="asha@sbx")
    after = amend(before, {"name": "Asha Iyer", "yearOfBirth": 1990, "abhaAddress": None}, LATER, THIS_YEAR)
    written = store.update(before, after)
    assert written == replace(after, version=1)
    assert after == Patient("pt-1", "Asha Iyer", NOW, LATER, "+919876500001", 1990, Sex.F)
    assert store.get("pt-1") == written
    assert found(store, "iye") == ["pt-1"]
    assert found(store, "verm") == []
    assert found(store, "00001") == ["pt-1"]
    assert store.holding("asha@sbx") is None


def test_an_update_from_a_stale_read_writes_nothing(store: PatientStore) -> None:
    read = registered(store, "pt-1", name="Meena", phone="+919876500002")
    assert store.update(read, amend(read, {"name": "Meena Raj"}, LATER, THIS_YEAR)) is not None
    stale = amend(read, {"phone": "+919876500003", "language": "hi"}, LATER, THIS_YEAR)
    assert store.update(read, stale) is None
    kept = store.get("pt-1")
    assert kept is not None and (kept.name, kept.phone, kept.language) == ("Meena Raj", "+919876500002", None)
    assert found(store, "raj") == ["pt-1"]
    fresh = store.update(kept, amend(kept, {"phone": "+919876500003", "language": "hi"}, LATER, THIS_YEAR))
    assert fresh is not None and store.get("pt-1") == fresh and fresh.language is Language.HI
    assert (fresh.name, fresh.phone) == ("Meena Raj", "+919876500003")
    assert found(store, "0003") == ["pt-1"] and found(store, "0002") == []


def test_two_updates_in_one_second_from_one_read_write_once(store: PatientStore) -> None:
    read = registered(store, "pt-1", name="Meena")
    first = store.update(read, amend(read, {"sex": "F"}, NOW, THIS_YEAR))  # the clock has not moved on
    assert first is not None and first.version == read.version + 1
    assert store.update(read, amend(read, {"sex": "U"}, NOW + timedelta(milliseconds=1), THIS_YEAR)) is None
    assert store.get("pt-1") == first


def test_a_name_prefix_finds_in_latin_devanagari_and_tamil(store: PatientStore) -> None:
    registered(store, "pt-lat", name="Rāmakṛṣṇa Śarmā")
    registered(store, "pt-ram", name="Ramesh Iyer")
    registered(store, "pt-dev", name="राहुल शर्मा")
    registered(store, "pt-dev2", name="रमेश वर्मा")
    registered(store, "pt-tam", name="முருகன் செல்வம்")
    registered(store, "pt-tam2", name="செல்வி முருகேசன்")

    assert found(store, "ram") == ["pt-ram", "pt-lat"]  # by name as stored, code point by code point: "a" < "ā"
    assert found(store, "RĀMAK") == ["pt-lat"]  # accents and case ignored, both ways
    assert found(store, "sarma") == ["pt-lat"]
    assert found(store, "शर्") == ["pt-dev"]
    assert found(store, "रा") == ["pt-dev"]  # a vowel sign is part of the letter: "रा" (raa) is not "रम" (ram)
    assert found(store, "रम") == ["pt-dev2"]
    assert found(store, "செல்வ") == ["pt-tam2", "pt-tam"]  # both have a word starting so: by name
    assert found(store, "முருகே") == ["pt-tam2"]
    assert found(store, "zzz") == []


def test_a_phone_is_found_by_its_last_four_digits_or_more_and_a_family_shares_one(store: PatientStore) -> None:
    registered(store, "pt-mother", name="Lakshmi", phone="+919876543210")
    registered(store, "pt-son", name="Arjun", phone="+919876543210")
    registered(store, "pt-other", name="Kavya", phone="+919812343210")
    assert found(store, "3210") == ["pt-son", "pt-other", "pt-mother"]  # by name: Arjun, Kavya, Lakshmi
    assert found(store, "543210") == ["pt-son", "pt-mother"]
    assert found(store, "+91 98765 43210") == ["pt-son", "pt-mother"]
    assert found(store, "98765") == []  # the phone's end, not its middle


def test_a_search_answers_at_most_20_by_name_then_id(store: PatientStore) -> None:
    ids = [f"pt-{n:02d}" for n in range(25)]
    for patient_id in reversed(ids):
        registered(store, patient_id, name="Priya Nair")
    assert found(store, "pri") == ids[:20]
    assert [p.patient_id for p in store.search("nai", limit=5)] == ids[:5]


def test_a_query_that_is_no_search_is_refused_naming_q(store: PatientStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        store.search("a")
    assert exc.value.details == [{"field": "q", "message": "must be 2-64 characters"}]


def test_an_abha_address_is_held_by_one_patient_while_many_have_none(store: PatientStore) -> None:
    for n in range(5):
        registered(store, f"pt-none-{n}", name="Anil")
    # Absent, not null: MongoDB's sparse unique index skips a document without the field, never one with null.
    assert "abhaAddress" not in (store.collection.find_one({"_id": "pt-none-0"}) or {"abhaAddress": "?"})
    holder = registered(store, "pt-holder", name="Ravi", abhaAddress="ravi.kumar@sbx")
    with pytest.raises(PatientExists) as exc:
        registered(store, "pt-second", name="Ravi K", abhaAddress="Ravi.Kumar@sbx")
    assert exc.value.details == [{"patientId": "pt-holder"}]
    assert store.get("pt-second") is None

    other = store.get("pt-none-0")
    assert other is not None
    with pytest.raises(PatientExists):
        store.update(other, amend(other, {"abhaAddress": "ravi.kumar@sbx"}, LATER, THIS_YEAR))
    assert store.get("pt-none-0") == other

    assert store.update(holder, amend(holder, {"abhaAddress": None}, LATER, THIS_YEAR)) is not None
    assert "abhaAddress" not in (store.collection.find_one({"_id": "pt-holder"}) or {"abhaAddress": "?"})
    taken = store.update(other, amend(other, {"abhaAddress": "ravi.kumar@sbx"}, LATER, THIS_YEAR))
    assert taken is not None and store.holding("ravi.kumar@sbx") == taken
