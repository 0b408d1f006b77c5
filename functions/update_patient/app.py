"""PATCH /patients/{patientId} (the patient themself, reception, admin): change some of a patient's fields.

A field given as null becomes unknown (not the name, once given). A record changed by another request between
this one's read and write is read again and the same fields applied to it. Another patient's record is 404.
"""

from __future__ import annotations

from opd.api.auth import may_see_patient
from opd.api.models import PatientIdPath
from opd.api.observability import logger
from opd.api.openapi import BEARER, error_responses
from opd.api.people import PatientOut, UpdatePatientRequest
from opd.api.resolver import Response, answer, caller, make_app, make_handler, patients
from opd.errors import (
    DependencyUnavailable,
    Forbidden,
    NotFound,
    PatientExists,
    SlotBusy,
    Unauthorized,
    ValidationFailed,
)

app = make_app()


@app.patch(
    "/patients/<patientId>",
    summary="Change a patient's name, phone, year of birth, sex, language or ABHA address (the patient themself, "
    "reception, admin)",
    tags=["patients"],
    security=BEARER,
    responses={
        200: {"description": "OK: the patient as changed"},
        **error_responses(
            ValidationFailed, Unauthorized, Forbidden, NotFound, PatientExists, SlotBusy, DependencyUnavailable
        ),
    },
)
def update_patient(patientId: PatientIdPath, request: UpdatePatientRequest) -> Response[PatientOut]:
    who = caller(app)
    may_see_patient(who, patientId)
    body = request.body()
    patient = patients().amend(patientId, body)
    logger.info("patient updated", patient_id=patientId, by=who.username, fields=sorted(body))  # names, never values
    return answer(PatientOut.of(patient))


lambda_handler = make_handler(app)
