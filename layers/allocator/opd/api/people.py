"""The people of the contract (version 3, "People"): the doctor directory's and the patient register's requests
and answers.

A request's types are checked here (and the language codes, which the OpenAPI document lists); the texts'
bounds are the domain's (`Doctor`, `domain.patients`), which counts characters once it has tidied them (NFC,
surrounding spaces trimmed), so the document shows those bounds and only the domain applies them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from opd.api.models import Query, RequestModel
from opd.contract import ResponseModel, UtcTime
from opd.domain import MAX_DEPARTMENT, MAX_DOCTOR_NAME, MAX_ROOM, PHONE_PATTERN, Doctor, Language
from opd.domain.patients import (
    FIRST_YEAR_OF_BIRTH,
    MAX_ABHA,
    MAX_NAME,
    MAX_QUERY,
    MIN_ABHA,
    MIN_QUERY,
    SEARCH_LIMIT,
    Patient,
    Sex,
)

# `GET /doctors?department=`: one department, as a doctor's record names it (`domain.department_of`); none: all.
DepartmentQuery = Annotated[
    str | None, Query(examples=["Cardiology"], json_schema_extra={"minLength": 1, "maxLength": MAX_DEPARTMENT})
]


def _text(least: int, most: int, example: str) -> Any:
    return Field(strict=True, examples=[example], json_schema_extra={"minLength": least, "maxLength": most})


class PutDoctorRequest(RequestModel):
    """PUT /doctors/{doctorId}: the whole record; a field left out is its default (no room, no languages)."""

    name: Annotated[str, _text(1, MAX_DOCTOR_NAME, "Dr Asha Rao")]
    department: Annotated[str, _text(1, MAX_DEPARTMENT, "Cardiology")]
    room: Annotated[str, _text(0, MAX_ROOM, "OPD-12")] | None = None  # empty: no room, as null
    languages: Annotated[list[Language], Field(json_schema_extra={"uniqueItems": True})] | None = None  # None: []

    def doctor(self, doctor_id: str) -> Doctor:
        """The record to keep; ValidationFailed naming the field the domain refuses."""
        return Doctor.of(doctor_id, self.name, self.department, self.room, self.languages or ())


class DoctorOut(ResponseModel):
    """The contract's Doctor."""

    doctor_id: str
    name: str
    department: str
    room: str | None
    languages: list[Language]

    @classmethod
    def of(cls, doctor: Doctor) -> DoctorOut:
        return cls(
            doctor_id=doctor.doctor_id,
            name=doctor.name,
            department=doctor.department,
            room=doctor.room,
            languages=list(doctor.languages),
        )


class DoctorListOut(ResponseModel):
    """GET /doctors: by department, then name."""

    doctors: list[DoctorOut]


# -- the patient register --------------------------------------------------------------------------------

# `GET /patients?q=`: what the desk typed; which key it looks up is the domain's (`domain.patients.search_key`).
SearchQuery = Annotated[
    str,
    Query(
        min_length=MIN_QUERY,
        max_length=MAX_QUERY,
        examples=["ravi"],
        description="the start of any word of the name (case and accents ignored), or the last 4 or more digits "
        "of the phone",
    ),
]
# Each field's type is checked here, its value by the domain (`domain.patients`), so a body with several bad
# values is refused naming all of them at once; the bounds below are for the document.
PatientName = Annotated[str, _text(1, MAX_NAME, "Ravi Kumar")]
PatientPhone = Annotated[
    str, Field(strict=True, examples=["+919876543210"], json_schema_extra={"pattern": PHONE_PATTERN.pattern})
]
YearOfBirth = Annotated[
    int,
    Field(
        strict=True,
        examples=[1984],
        description="up to this year in the clinic's zone",
        json_schema_extra={"minimum": FIRST_YEAR_OF_BIRTH},
    ),
]
PatientSex = Annotated[str, Field(strict=True, examples=["F"], json_schema_extra={"enum": [sex.value for sex in Sex]})]
PatientLanguage = Annotated[
    str, Field(strict=True, examples=["hi"], json_schema_extra={"enum": [code.value for code in Language]})
]
AbhaAddress = Annotated[str, _text(MIN_ABHA, MAX_ABHA, "ravi.kumar@sbx")]


class _PatientBody(RequestModel):
    def body(self) -> dict[str, object]:
        """The fields the client sent (null included: a field made unknown), by the contract's names, for the
        domain (`domain.patients.register`, `amend`) to check and keep."""
        return self.model_dump(mode="json", by_alias=True, include=set(self.model_fields_set))


class RegisterPatientRequest(_PatientBody):
    """POST /patients: a name, and whatever else is known."""

    name: PatientName
    phone: PatientPhone | None = None
    year_of_birth: YearOfBirth | None = None
    sex: PatientSex | None = None
    language: PatientLanguage | None = None
    abha_address: AbhaAddress | None = None


class UpdatePatientRequest(_PatientBody):
    """PATCH /patients/{patientId}: the fields to change; null makes one unknown (not the name, once given)."""

    name: PatientName | None = None
    phone: PatientPhone | None = None
    year_of_birth: YearOfBirth | None = None
    sex: PatientSex | None = None
    language: PatientLanguage | None = None
    abha_address: AbhaAddress | None = None


class PatientOut(ResponseModel):
    """The contract's Patient (no version: that is the register's fence, not the patient's)."""

    patient_id: str
    name: str | None
    phone: str | None
    year_of_birth: int | None
    sex: Sex | None
    language: Language | None
    abha_address: str | None
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, patient: Patient) -> PatientOut:
        return cls(
            patient_id=patient.patient_id,
            name=patient.name,
            phone=patient.phone,
            year_of_birth=patient.year_of_birth,
            sex=patient.sex,
            language=patient.language,
            abha_address=patient.abha_address,
            created_at=patient.created_at,
            updated_at=patient.updated_at,
        )


class PatientListOut(ResponseModel):
    """GET /patients?q=: by name, then id."""

    patients: list[PatientOut] = Field(description=f"at most {SEARCH_LIMIT}, by name then patientId")
