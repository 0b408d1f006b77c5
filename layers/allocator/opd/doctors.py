"""MongoDB adapter of the doctor directory: one document per doctor in `doctors`, its `_id` the doctor id.

A PUT replaces the whole record (an upsert), so a repeat writes the same document again. The list is
by department, then name, served by the (department, name) index: filtered to one department or not,
the server walks the index in order and sorts nothing in memory.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.collection import Collection

from opd.domain import Doctor, Language
from opd.mongo import Document, mongo_errors

DIRECTORY_ORDER = [("department", ASCENDING), ("name", ASCENDING)]


class DoctorStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.collection.create_index(DIRECTORY_ORDER)

    def record(self, doctor: Doctor) -> None:
        """Create or replace the doctor's record."""
        with mongo_errors(write=True):
            self.collection.replace_one({"_id": doctor.doctor_id}, _to_doc(doctor), upsert=True)

    def get(self, doctor_id: str) -> Doctor | None:
        with mongo_errors():
            found = self.collection.find_one({"_id": doctor_id})
        return None if found is None else _from_doc(found)

    def listing(self, department: str | None = None) -> list[Doctor]:
        """Every doctor, or those of one department, by department then name."""
        where = {} if department is None else {"department": department}
        with mongo_errors():
            return [_from_doc(doc) for doc in self.collection.find(where).sort(DIRECTORY_ORDER)]


def _to_doc(doctor: Doctor) -> Document:
    return {
        "_id": doctor.doctor_id,
        "name": doctor.name,
        "department": doctor.department,
        "room": doctor.room,
        "languages": [language.value for language in doctor.languages],
    }


def _from_doc(doc: Document) -> Doctor:
    return Doctor(
        doctor_id=doc["_id"],
        name=doc["name"],
        department=doc["department"],
        room=doc.get("room"),
        languages=tuple(Language(code) for code in doc.get("languages", [])),
    )
