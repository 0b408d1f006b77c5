"""MongoDB adapter of the patient register: one document per patient in `patients`, its `_id` the patientId.

Search: `searchKeys` holds the patient's keys (`domain.patients.search_keys`, plain strings), and a search is
one query, `{"searchKeys": {"$in": [key]}}` sorted by name then id, at most 20. The (searchKeys, name,
patientId) index is multikey in MongoDB: a one-key `$in` is a point on it, so the server reads 20 entries in
order and sorts nothing. (patientId repeats `_id`: nx-27017 refuses `_id` in a compound index. nx-27017 answers
`$in` right where equality on an indexed array answers nothing, but reads every document to do it: p95 36 ms
at 10,000 patients, 321 ms at 100,000, measured by benchmarks/patient_search.py.)

An update replaces the whole record, fenced by its `version` (as the slots are): two edits at once never lose
one, nor leave search keys made from a name that is no longer there.

ABHA addresses: a sparse unique index, and `abhaAddress` stored only when the patient has one, so any number
of patients have none (in MongoDB a plain unique index lets one document lack it, a sparse one still only one
hold null). nx-27017 accepts `sparse` and `partialFilterExpression` and keeps neither (measured): its unique
index lets any number of missing or null values through, which is the same answer here.
"""

from __future__ import annotations

from dataclasses import replace

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from opd.domain.languages import Language
from opd.domain.patients import SEARCH_LIMIT, Patient, Sex, search_key, search_keys
from opd.errors import PatientExists
from opd.mongo import Document, mongo_errors, utc

SEARCH_ORDER = [("name", ASCENDING), ("patientId", ASCENDING)]
_NOT_READ = {"searchKeys": 0}  # up to ~140 strings a patient, for the server only


class PatientStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.collection.create_index([("searchKeys", ASCENDING), *SEARCH_ORDER])
            self.collection.create_index("abhaAddress", unique=True, sparse=True)

    def insert(self, patient: Patient) -> None:
        """Register a new patient; PatientExists if another holds its ABHA address."""
        with mongo_errors(write=True):
            try:
                self.collection.insert_one(patient_to_doc(patient))
            except DuplicateKeyError:
                self._raise_holder(patient)
                raise  # the id itself was taken: 64 random bits, never in practice

    def get(self, patient_id: str) -> Patient | None:
        with mongo_errors():
            found = self.collection.find_one({"_id": patient_id}, _NOT_READ)
        return None if found is None else patient_from_doc(found)

    def holding(self, abha_address: str) -> Patient | None:
        """The patient with this ABHA address (as the register keeps it: `require_abha_address`), if any."""
        with mongo_errors():
            found = self.collection.find_one({"abhaAddress": abha_address}, _NOT_READ)
        return None if found is None else patient_from_doc(found)

    def update(self, before: Patient, after: Patient) -> Patient | None:
        """Write `after`, the patient changed from `before` as read from here: the record and its search keys,
        in one replace fenced by the version read, and answer it as written (the next version). None, and
        nothing written, when the record changed since it was read (or is gone): the caller reads again and
        repeats the change, so two edits at once never lose one, nor leave keys made from a name that is no
        longer there. PatientExists if another patient holds the new ABHA address. (The whole record, not a
        `$set` of what changed: nx-27017 writes a datetime given to `$set` as text, and compares datetimes to
        the second, so updatedAt cannot be the fence either; both measured.)"""
        written = replace(after, version=before.version + 1)
        with mongo_errors(write=True):
            try:
                done = self.collection.replace_one(
                    {"_id": before.patient_id, "version": before.version}, patient_to_doc(written)
                )
            except DuplicateKeyError:
                self._raise_holder(written)
                raise
        return written if done.matched_count == 1 else None

    def search(self, q: str, limit: int = SEARCH_LIMIT) -> list[Patient]:
        """Patients whose name has a word starting with `q`, or whose phone ends with its digits, by name then
        id; ValidationFailed naming `q` if it is no search (`search_key`)."""
        key = search_key(q)
        with mongo_errors():
            found = self.collection.find({"searchKeys": {"$in": [key]}}, _NOT_READ).sort(SEARCH_ORDER).limit(limit)
            return [patient_from_doc(doc) for doc in found]

    def _raise_holder(self, patient: Patient) -> None:
        """PatientExists naming who holds `patient`'s ABHA address, when someone else does."""
        if patient.abha_address is None:
            return
        holder = self.collection.find_one({"abhaAddress": patient.abha_address}, {"_id": 1})
        if holder is not None and holder["_id"] != patient.patient_id:
            raise PatientExists(
                "a patient with this abhaAddress is registered", [{"patientId": holder["_id"]}]
            ) from None


def patient_to_doc(patient: Patient) -> Document:
    """Unknown fields are null, but abhaAddress is stored only when set: the sparse unique index skips who has none."""
    doc: Document = {
        "_id": patient.patient_id,
        "patientId": patient.patient_id,
        "name": patient.name,
        "phone": patient.phone,
        "yearOfBirth": patient.year_of_birth,
        "sex": None if patient.sex is None else patient.sex.value,
        "language": None if patient.language is None else patient.language.value,
        "createdAt": utc(patient.created_at),
        "updatedAt": utc(patient.updated_at),
        "searchKeys": search_keys(patient),
        "version": patient.version,
    }
    if patient.abha_address is not None:
        doc["abhaAddress"] = patient.abha_address
    return doc


def patient_from_doc(doc: Document) -> Patient:
    return Patient(
        patient_id=doc["_id"],
        name=doc.get("name"),
        created_at=utc(doc["createdAt"]),
        updated_at=utc(doc["updatedAt"]),
        phone=doc.get("phone"),
        year_of_birth=doc.get("yearOfBirth"),
        sex=Sex(doc["sex"]) if doc.get("sex") else None,
        language=Language(doc["language"]) if doc.get("language") else None,
        abha_address=doc.get("abhaAddress"),
        version=doc["version"],
    )
