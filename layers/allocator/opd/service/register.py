"""`PatientRegister`: the patient register's operations (contract, "People") over the records it is given.

The domain checks each field (`domain.patients`); this adds what it may not know: the clock, "this year" in
the clinic's zone (a year of birth may not be in the future there, whatever UTC's year is), a new patient's
id, and a change that lost its race to another (read again, apply the same change, a few times).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from opd.domain import patients
from opd.domain.patients import NameAndLanguage, Patient
from opd.errors import NotFound, OpdError, SlotBusy
from opd.ports import PatientRecords
from opd.service.ids import utc_now
from opd.settings import Settings

ID_DRAWS = 3  # a new id is drawn again only when the one drawn was taken: never in practice


class PatientRegister:
    """The register over any `PatientRecords`; `clock` may be replaced on a built one (the tests fix it)."""

    def __init__(
        self,
        records: PatientRecords,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = patients.new_patient_id,
    ) -> None:
        self.records = records
        self.settings = settings or Settings()
        self.clock = clock
        self.new_id = new_id

    def this_year(self, now: datetime) -> int:
        return now.astimezone(self.settings.clinic_zone).year

    def register(self, body: Mapping[str, object]) -> Patient:
        """A new patient from POST /patients's body, with an id of the service's; PatientExists as the records say."""
        now = self.clock()
        for _ in range(ID_DRAWS):
            patient = patients.register(self.new_id(), body, now, self.this_year(now))
            if self.records.insert(patient):
                return patient
        raise OpdError("the register refused every new id drawn for this patient")

    def get(self, patient_id: str) -> Patient:
        found = self.records.get(patient_id)
        if found is None:
            raise NotFound(f"no patient {patient_id}")
        return found

    def search(self, q: str) -> list[Patient]:
        return self.records.search(q)

    def name_and_language(self, patient_id: str) -> NameAndLanguage:
        """The patient's name and language in the register (a booking's language, unless it asks for one, and the
        name its answer shows); None for what a record lacks, both for a patient not registered."""
        return self.records.name_and_language(patient_id)

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]:
        """The registered patients' names by id; an unregistered patient id is simply absent."""
        return self.records.names_of(patient_ids)

    def amend(self, patient_id: str, body: Mapping[str, object]) -> Patient:
        """The patient with PATCH's fields changed, applied to the record as it is when written: a write that
        found it changed since it was read reads it again and applies the same fields to that. An empty body
        changes nothing."""
        for _ in range(self.settings.write_attempts):
            current = self.get(patient_id)
            if not body:
                return current
            now = self.clock()
            written = self.records.update(current, patients.amend(current, body, now, self.this_year(now)))
            if written is not None:
                return written
        # Transient, as a busy slot is (429, Retry-After): the contract has no code of its own for a busy record.
        raise SlotBusy(f"patient {patient_id} kept changing under this request, try again", retry_after_seconds=1)
