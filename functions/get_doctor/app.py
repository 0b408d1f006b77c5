"""GET /doctors/{doctorId} (public): a doctor's record in the directory; 404 where none is recorded."""

from __future__ import annotations

from opd.api.models import DoctorIdPath
from opd.api.openapi import error_responses
from opd.api.people import DoctorOut
from opd.api.resolver import Response, answer, doctors, make_app, make_handler
from opd.errors import DependencyUnavailable, NotFound, ValidationFailed

app = make_app()


@app.get(
    "/doctors/<doctorId>",
    summary="A doctor's name, department, room and languages (public)",
    tags=["doctors"],
    responses={
        200: {"description": "OK: the doctor"},
        **error_responses(ValidationFailed, NotFound, DependencyUnavailable),
    },
)
def get_doctor(doctorId: DoctorIdPath) -> Response[DoctorOut]:
    doctor = doctors().get(doctorId)
    if doctor is None:  # the id may still have slots: they work without a record
        raise NotFound(f"no doctor {doctorId} is recorded")
    return answer(DoctorOut.of(doctor))


lambda_handler = make_handler(app)
