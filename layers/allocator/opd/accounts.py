"""MongoDB adapter of the phones' accounts: which patient a phone signs in to (contract v3, "Sign-in by phone").

One document per phone in `phone_accounts`: `{_id: phone, patientId, createdAt}`, written by a phone's first
sign-in and never changed, so later sign-ins of the phone answer the same patient. A unique index on `patientId`
keeps a patient to one phone's account: a second phone of theirs signs in as a new patient (the contract takes
the desk's patient only where none has signed in with them yet). Phones are read as `{"$eq": phone}` where they
are not the `_id` (see `opd.patients` on nx-27017).
"""

from __future__ import annotations

from datetime import datetime

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from opd.errors import WriteNotAcknowledged
from opd.mongo import Document, mongo_errors, utc


class PhoneAccountStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.collection.create_index("patientId", unique=True)

    def patient_of(self, phone: str) -> str | None:
        with mongo_errors():
            found = self.collection.find_one({"_id": phone}, {"patientId": 1})
        return None if found is None else str(found["patientId"])

    def has_account(self, patient_id: str) -> bool:
        with mongo_errors():
            return self.collection.find_one({"patientId": {"$eq": patient_id}}, {"_id": 1}) is not None

    def open(self, phone: str, patient_id: str, now: datetime) -> str | None:
        """The phone signs in to `patient_id` from now on, unless it signs in to someone already (that one wins:
        answered); None, nothing written, when the patient has another phone's account. A write whose reply was
        lost is read back: the same document written twice is the same account."""
        try:
            with mongo_errors(write=True):
                self.collection.insert_one({"_id": phone, "patientId": patient_id, "createdAt": utc(now)})
            return patient_id
        except DuplicateKeyError:
            return self.patient_of(phone)
        except WriteNotAcknowledged:
            if (holder := self.patient_of(phone)) is None:
                raise
            return holder
