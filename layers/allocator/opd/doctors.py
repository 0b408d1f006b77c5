"""MongoDB adapter of the doctor directory: one document per doctor in `doctors`, its `_id` the doctor id.

A PUT replaces the whole record (an upsert), so a repeat writes the same document again. The list is
by department, then name, served by the (department, name) index: filtered to one department or not,
the server walks the index in order and sorts nothing in memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pymongo import ASCENDING
from pymongo.collection import Collection

from opd.domain import Doctor, Language
from opd.errors import DependencyUnavailable
from opd.messages import unrecorded
from opd.mongo import Document, mongo_errors

DIRECTORY_ORDER = [("department", ASCENDING), ("name", ASCENDING)]

log = logging.getLogger(__name__)


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


class DoctorNames:
    """A doctor's name by id for the SMS notifier: read from the directory, kept `keep_s` per execution
    environment (a doctor's SMS go out in bursts, and a renamed doctor is rare). A doctor without a record,
    or a directory that cannot be read, is named by id: an SMS never waits on, or fails for, the directory."""

    def __init__(self, store: DoctorStore, keep_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.keep_s = keep_s
        self.clock = clock
        self._known: dict[str, tuple[str, float]] = {}  # doctor id -> (the name to use, when it was read)

    def __call__(self, doctor_id: str) -> str:
        now = self.clock()
        known = self._known.get(doctor_id)
        if known is not None and now - known[1] < self.keep_s:
            return known[0]
        try:
            doctor = self.store.get(doctor_id)
        except DependencyUnavailable as exc:
            log.warning("doctor directory not read, the SMS names the doctor by id: %s", exc.message)
            return known[0] if known is not None else unrecorded(doctor_id)
        name = doctor.name if doctor is not None else unrecorded(doctor_id)
        self._known[doctor_id] = (name, now)
        return name
