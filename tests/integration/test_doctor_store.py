"""The doctor directory on a real server (nx-27017, or MONGODB_URI): replace, get, and the list by department then
name, with the index ensure_indexes makes in place."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from opd.doctors import DoctorStore
from opd.domain import Doctor, Language
from opd.mongo import Document

DIRECTORY_INDEX = [("department", 1), ("name", 1)]


@pytest.fixture
def doctors(mongo_client: MongoClient[Document], database_name: str) -> DoctorStore:
    store = DoctorStore(mongo_client[database_name]["doctors"])
    store.ensure_indexes()
    return store


def test_ensure_indexes_makes_the_department_then_name_index(doctors: DoctorStore) -> None:
    keys = [list(index["key"]) for index in doctors.collection.index_information().values()]
    assert DIRECTORY_INDEX in [[(field, int(direction)) for field, direction in key] for key in keys]
    doctors.ensure_indexes()  # again, as every new execution environment does: no error, no second index
    assert len(doctors.collection.index_information()) == len(keys)


def test_a_record_is_created_then_replaced_whole(doctors: DoctorStore) -> None:
    assert doctors.get("dr-rao") is None
    first = Doctor.of("dr-rao", "Dr Asha Rao", "Cardiology", "OPD-12", ["en", "hi"])
    doctors.record(first)
    assert doctors.get("dr-rao") == first

    moved = Doctor.of("dr-rao", "Dr Asha Rao", "Paediatrics")  # no room, no languages: those are gone too
    doctors.record(moved)
    doctors.record(moved)  # a repeat changes nothing
    assert doctors.get("dr-rao") == moved
    assert doctors.collection.count_documents({}) == 1
    assert doctors.collection.find_one({"_id": "dr-rao"}) == {
        "_id": "dr-rao",
        "name": "Dr Asha Rao",
        "department": "Paediatrics",
        "room": None,
        "languages": [],
    }


def test_any_script_reads_back_as_written(doctors: DoctorStore) -> None:
    tamil = Doctor.of("dr-selvi", "மருத்துவர் செல்வி", "குழந்தை நலம்", "அறை 4", ["ta", "en"])
    doctors.record(tamil)
    assert doctors.get("dr-selvi") == tamil
    assert doctors.get("dr-selvi") != Doctor.of("dr-selvi", "மருத்துவர் செல்வி", "குழந்தை நலம்", "அறை 4", ["en", "ta"])


def test_the_list_is_by_department_then_name_and_one_department_on_request(doctors: DoctorStore) -> None:
    recorded = [
        Doctor.of("dr-5", "Dr Zaid", "Cardiology", "C-2"),
        Doctor.of("dr-1", "Dr Meena", "Orthopaedics", None, ["hi"]),
        Doctor.of("dr-3", "Dr Bose", "Cardiology"),
        Doctor.of("dr-2", "Dr Anand", "Orthopaedics"),
        Doctor.of("dr-4", "Dr Chen", "ENT", "E-1", ["en"]),
        Doctor.of("dr-6", "Dr Asha", "Cardiology"),
    ]
    for doctor in recorded:  # recorded out of order, and one of them replaced: the order is the query's
        doctors.record(doctor)
    doctors.record(Doctor.of("dr-4", "Dr Chen", "Cardiology", "C-1", ["en", "ta"]))

    listed = doctors.listing()
    assert [(d.department, d.name) for d in listed] == [
        ("Cardiology", "Dr Asha"),
        ("Cardiology", "Dr Bose"),
        ("Cardiology", "Dr Chen"),
        ("Cardiology", "Dr Zaid"),
        ("Orthopaedics", "Dr Anand"),
        ("Orthopaedics", "Dr Meena"),
    ]
    assert listed[2] == Doctor("dr-4", "Dr Chen", "Cardiology", "C-1", (Language.EN, Language.TA))  # whole records
    assert [d.doctor_id for d in doctors.listing("Orthopaedics")] == ["dr-2", "dr-1"]
    assert [d.doctor_id for d in doctors.listing("Cardiology")] == ["dr-6", "dr-3", "dr-4", "dr-5"]
    assert doctors.listing("ENT") == []  # dr-4 moved to Cardiology
    assert doctors.listing("cardiology") == []  # a department is named exactly as recorded


def test_an_empty_directory_lists_nobody(doctors: DoctorStore) -> None:
    assert doctors.listing() == []
    assert doctors.listing("Cardiology") == []
