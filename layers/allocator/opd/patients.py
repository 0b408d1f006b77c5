"""MongoDB adapter of the patient register: one document per patient in `patients`, its `_id` the patientId, the
truth; and the search's own small documents in `patient_search_keys`, one per (key, patient).

Search (GET /patients?q=): a key document is `{_id: "<key>|<patientId>", key, name, patientId}`, indexed by
(key, name, patientId), so `find({key})` sorted by (name, patientId) is a point on the index read in order: the
server sorts nothing and reads only the entries it answers. Then the patients by `_id` (`$in`): two round trips
whatever the register's size. A key document is only a pointer: a patient is answered only while their record's
`searchKeys` (`domain.patients.search_keys`, written with the record) still hold the key, so a key left behind
by a change never answers a patient who no longer matches. (patientId repeats the `_id`'s end: nx-27017 refuses
`_id` in a compound index. The key is matched as `{"$eq": key}`: nx-27017 reads `{key: k}` as "equal to k, or
an array holding k" and scans every document to do it; `$eq` it answers from the index, and MongoDB reads both
the same way. Measured by benchmarks/patient_search.py.)

Writes keep a patient in every key their record has: the keys are inserted before the record that has them
is written, and a key the record no longer has is deleted after. A registration inserts the patient, then the
keys; an update inserts all of the new record's keys (those there already are left as they are, and any a
lost write left out come back), replaces the record fenced by its `version` (as the slots are), and only
then deletes the keys it dropped and renames the rest (the order of an answer is the key documents'). A write
that loses its race, or stops half way, leaves at worst a key the record does not have: filtered out, and
read past (`STALE_ALLOWANCE`). Updates replace the whole record: nx-27017 writes a datetime given to `$set` as
text, and compares datetimes to the second, so updatedAt cannot be the fence either (both measured).

ABHA addresses: a sparse unique index, and `abhaAddress` stored only when the patient has one, so any number
of patients have none (in MongoDB a plain unique index lets one document lack it, a sparse one still only one
hold null). nx-27017 accepts `sparse` and `partialFilterExpression` and keeps neither (measured): its unique
index lets any number of missing or null values through, which is the same answer here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from opd.domain.languages import Language
from opd.domain.patients import SEARCH_LIMIT, NameAndLanguage, Patient, Sex, search_key, search_keys
from opd.errors import DependencyUnavailable, OutcomeUnknown, PatientExists, WriteNotAcknowledged
from opd.mongo import Document, insert_new, mongo_errors, utc

SEARCH_KEYS = "patient_search_keys"  # the key documents' collection, beside `patients`
SEARCH_ORDER = [("name", ASCENDING), ("patientId", ASCENDING)]
KEY_INDEX = [("key", ASCENDING), *SEARCH_ORDER]
# Key entries read beyond an answer's 20, for keys a record no longer has; a page full of them reads on.
STALE_ALLOWANCE = 10
MAX_KEY_PAGES = 3
_NOT_READ = {"searchKeys": 0}  # up to ~140 strings a patient: only the search's filter reads them

log = logging.getLogger(__name__)


class PatientStore:
    def __init__(self, collection: Collection[Document], keys: Collection[Document] | None = None) -> None:
        self.collection = collection
        self.keys = collection.database[SEARCH_KEYS] if keys is None else keys

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.keys.create_index(KEY_INDEX)
            self.collection.create_index("abhaAddress", unique=True, sparse=True)
            self.collection.create_index("phone")  # sign-in by phone: the desk's patients with a phone

    def insert(self, patient: Patient) -> bool:
        """Register a new patient, then the keys the search finds them by. PatientExists if another holds its ABHA
        address; False, and nothing written, when its id or ABHA address was taken by a record that no longer
        holds the address (a race, or an id drawn twice): the caller tries again with a new id."""
        try:
            with mongo_errors(write=True):
                try:
                    self.collection.insert_one(patient_to_doc(patient))
                except DuplicateKeyError:
                    self._raise_holder(patient)
                    return False
        except WriteNotAcknowledged as lost:
            raise _registered_maybe(patient, lost) from lost
        try:
            insert_new(self.keys, key_docs(patient, search_keys(patient)))
        except DependencyUnavailable as lost:
            raise _registered_maybe(patient, lost) from lost
        return True

    def get(self, patient_id: str) -> Patient | None:
        with mongo_errors():
            found = self.collection.find_one({"_id": patient_id}, _NOT_READ)
        return None if found is None else patient_from_doc(found)

    def name_and_language(self, patient_id: str) -> NameAndLanguage:
        """The patient's name and language as registered: one read by `_id` of those two fields alone."""
        with mongo_errors():
            found = self.collection.find_one({"_id": patient_id}, {"_id": 0, "name": 1, "language": 1}) or {}
        code = found.get("language")
        language = Language(code) if isinstance(code, str) and code in Language else None
        return NameAndLanguage(found.get("name") or None, language)

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]:
        """The name of each of these patients who is registered with one, by id: one `$in` on `_id`."""
        ids = sorted(set(patient_ids))
        if not ids:
            return {}
        with mongo_errors():
            found = self.collection.find({"_id": {"$in": ids}}, {"name": 1})
            return {doc["_id"]: doc["name"] for doc in found if doc.get("name")}  # no name yet: a phone sign-in

    def with_phone(self, phone: str, limit: int) -> list[str]:
        """The ids of at most `limit` patients registered with this phone (E.164, as kept), from the phone index."""
        with mongo_errors():
            found = self.collection.find({"phone": {"$eq": phone}}, {"_id": 1}).limit(limit)
            return [str(doc["_id"]) for doc in found]

    def holding(self, abha_address: str) -> Patient | None:
        """The patient with this ABHA address (as the register keeps it: `require_abha_address`), if any."""
        with mongo_errors():
            found = self.collection.find_one({"abhaAddress": abha_address}, _NOT_READ)
        return None if found is None else patient_from_doc(found)

    def update(self, before: Patient, after: Patient) -> Patient | None:
        """Write `after`, the patient changed from `before` as read from here, fenced by the version read, and
        answer it as written (the next version). None, and the record untouched, when it changed since it was
        read (or is gone), or another record let go of the new ABHA address meanwhile: the caller reads again and
        repeats the change, so two edits at once never lose one. PatientExists if another patient holds the new
        ABHA address. The keys: see the module's docstring."""
        written = replace(after, version=before.version + 1)
        keys_before, keys_after = search_keys(before), search_keys(written)
        insert_new(self.keys, key_docs(written, keys_after))
        try:
            with mongo_errors(write=True):
                try:
                    done = self.collection.replace_one(
                        {"_id": before.patient_id, "version": before.version}, patient_to_doc(written)
                    )
                except DuplicateKeyError:
                    self._raise_holder(written)
                    return None
        except WriteNotAcknowledged as lost:
            message = f"patient {before.patient_id} may or may not be changed: repeat the same request ({lost.message})"
            raise OutcomeUnknown(lost.dependency, message, {"patientId": before.patient_id}) from lost
        if done.matched_count != 1:
            return None
        self._tidy_keys(written, keys_before, keys_after, renamed=written.name != before.name)
        return written

    def search(self, q: str, limit: int = SEARCH_LIMIT) -> list[Patient]:
        """Patients whose name has a word starting with `q`, or whose phone ends with its digits, by name then
        id; ValidationFailed naming `q` if it is no search (`search_key`)."""
        key = search_key(q)
        page = limit + STALE_ALLOWANCE
        found: list[Patient] = []
        for turn in range(MAX_KEY_PAGES):
            with mongo_errors():
                entries = list(
                    self.keys.find({"key": {"$eq": key}}, {"_id": 0, "patientId": 1})
                    .sort(SEARCH_ORDER)
                    .skip(turn * page)
                    .limit(page)
                )
                ids = [entry["patientId"] for entry in entries]
                records = {doc["_id"]: doc for doc in self.collection.find({"_id": {"$in": ids}})} if ids else {}
            for patient_id in ids:  # in the key documents' order
                record = records.get(patient_id)
                if record is not None and key in record.get("searchKeys", ()):
                    found.append(patient_from_doc(record))
            if len(found) >= limit or len(entries) < page:
                break
        return found[:limit]

    def _tidy_keys(self, patient: Patient, keys_before: list[str], keys_after: list[str], renamed: bool) -> None:
        """After a write: delete the keys the record dropped, give the kept ones its new name. Best effort: the
        record is written; what is left is a stale key (filtered out) or an order by the old name, until the
        patient's next change."""
        kept = set(keys_after)
        dropped = [key for key in keys_before if key not in kept]
        try:
            if dropped:
                with mongo_errors(write=True):
                    self.keys.delete_many({"_id": {"$in": key_ids(patient.patient_id, dropped)}})
            if renamed:
                still = [key for key in keys_before if key in kept]
                with mongo_errors(write=True):
                    self.keys.update_many(
                        {"_id": {"$in": key_ids(patient.patient_id, still)}}, {"$set": {"name": patient.name}}
                    )
        except DependencyUnavailable as exc:
            log.warning("search keys of patient %s left as they were: %s", patient.patient_id, exc.message)

    def _raise_holder(self, patient: Patient) -> None:
        """PatientExists naming who holds `patient`'s ABHA address, when someone else does."""
        if patient.abha_address is None:
            return
        with mongo_errors():
            holder = self.collection.find_one({"abhaAddress": patient.abha_address}, {"_id": 1})
        if holder is not None and holder["_id"] != patient.patient_id:
            raise PatientExists(
                "a patient with this abhaAddress is registered", [{"patientId": holder["_id"]}]
            ) from None


def _registered_maybe(patient: Patient, lost: DependencyUnavailable) -> OutcomeUnknown:
    """MongoDB went away with the registration half done: the client learns the id, to read it and, with any
    PATCH, to make it searchable (an update writes all of its keys)."""
    return OutcomeUnknown(
        lost.dependency,
        f"patient {patient.patient_id} may be registered without being searchable: GET /patients/"
        f"{patient.patient_id} tells, and a PATCH of it makes it searchable ({lost.message})",
        {"patientId": patient.patient_id},
    )


def key_ids(patient_id: str, keys: Iterable[str]) -> list[str]:
    return [f"{key}|{patient_id}" for key in keys]


def key_docs(patient: Patient, keys: list[str]) -> list[Document]:
    """The patient's key documents: each the key, and what the answer is ordered by."""
    return [
        {"_id": f"{key}|{patient.patient_id}", "key": key, "name": patient.name, "patientId": patient.patient_id}
        for key in keys
    ]


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
        "searchKeys": search_keys(patient),  # what the search's filter checks a key document against
        "version": patient.version,
    }
    if patient.abha_address is not None:
        doc["abhaAddress"] = patient.abha_address
    if patient.address is not None:  # from a Scan & Share only
        doc["address"] = patient.address
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
        address=doc.get("address"),
        version=doc["version"],
    )
