"""POST /patients (reception, admin): register a patient; the service makes the patientId.

An ABHA address another patient holds is 409 PATIENT_EXISTS, naming that patient. Logs name the patient by id
only: the register holds personal health information (contract, "People").
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api.auth import STAFF
from opd.api.observability import logger
from opd.api.openapi import BEARER, error_responses
from opd.api.people import PatientOut, RegisterPatientRequest
from opd.api.resolver import Response, answer, caller, make_app, make_handler, patients
from opd.errors import DependencyUnavailable, Forbidden, PatientExists, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/patients",
    summary="Register a patient: a name, and their phone, year of birth, sex, language and ABHA address where "
    "known (reception, admin)",
    tags=["patients"],
    security=BEARER,
    responses={
        201: {"description": "Created: the patient, with the patientId the service made"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, PatientExists, DependencyUnavailable),
    },
)
def register_patient(request: RegisterPatientRequest) -> Response[PatientOut]:
    who = caller(app).require(*STAFF)
    patient = patients().register(request.body())
    logger.info("patient registered", patient_id=patient.patient_id, by=who.username)
    return answer(PatientOut.of(patient), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
