"""GET /patients/{patientId} (the patient themself, reception, admin): a patient's record.

Another patient's record is 404, word for word what an id never registered gets.
"""

from __future__ import annotations

from opd.api.auth import may_see_patient
from opd.api.models import PatientIdPath
from opd.api.openapi import BEARER, error_responses
from opd.api.people import PatientOut
from opd.api.resolver import Response, answer, caller, make_app, make_handler, patients
from opd.errors import DependencyUnavailable, Forbidden, NotFound, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/patients/<patientId>",
    summary="A patient's record (the patient themself, reception, admin)",
    tags=["patients"],
    security=BEARER,
    responses={
        200: {"description": "OK: the patient"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, DependencyUnavailable),
    },
)
def get_patient(patientId: PatientIdPath) -> Response[PatientOut]:
    may_see_patient(caller(app), patientId)
    return answer(PatientOut.of(patients().get(patientId)))


lambda_handler = make_handler(app)
