"""PUT /doctors/{doctorId} (admin): record a doctor in the directory, or replace the record, whole.

The board, the desk and the patient app show the name and room from here. A doctor id works without a
record (its slots, its board); recording one changes no slot.
"""

from __future__ import annotations

from opd.api.auth import Role
from opd.api.models import DoctorIdPath
from opd.api.observability import logger
from opd.api.openapi import BEARER, error_responses
from opd.api.people import DoctorOut, PutDoctorRequest
from opd.api.resolver import Response, answer, caller, doctors, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.put(
    "/doctors/<doctorId>",
    summary="Record a doctor's name, department, room and languages, or replace them (admin)",
    tags=["doctors"],
    security=BEARER,
    responses={
        200: {"description": "OK: the doctor as recorded now (created or replaced)"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def put_doctor(doctorId: DoctorIdPath, request: PutDoctorRequest) -> Response[DoctorOut]:
    who = caller(app).require(Role.ADMIN)
    doctor = request.doctor(doctorId)
    doctors().record(doctor)
    logger.info("doctor recorded", doctor_id=doctorId, by=who.username)
    return answer(DoctorOut.of(doctor))


lambda_handler = make_handler(app)
