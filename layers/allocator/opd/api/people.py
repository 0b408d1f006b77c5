"""The people of the contract (version 3, "People"): the doctor directory's requests and answers.

A request's types are checked here (and the language codes, which the OpenAPI document lists); the texts'
bounds are the domain's (`Doctor`), which counts characters once it has tidied them (NFC, surrounding spaces
trimmed), so the document shows those bounds and only the domain applies them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from opd.api.models import Query, RequestModel
from opd.contract import ResponseModel
from opd.domain import MAX_DEPARTMENT, MAX_DOCTOR_NAME, MAX_ROOM, Doctor, Language

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
