"""GET /patients?q= (reception, admin): the desk's search, at most 20 patients by name then id.

`q` is the start of any word of the name (any script; case, and Latin accents, ignored) or the last 4 or more
digits of the phone. Two indexed reads however large the register (opd.patients).
"""

from __future__ import annotations

from opd.api.auth import STAFF
from opd.api.openapi import BEARER, error_responses
from opd.api.people import PatientListOut, PatientOut, SearchQuery
from opd.api.resolver import Response, answer, caller, make_app, make_handler, patients
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/patients",
    summary="Find patients by the start of a word of their name or the end of their phone (reception, admin)",
    tags=["patients"],
    security=BEARER,
    responses={
        200: {"description": "OK: at most 20 patients, by name then patientId (none found: an empty list)"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def search_patients(q: SearchQuery) -> Response[PatientListOut]:
    caller(app).require(*STAFF)
    return answer(PatientListOut(patients=[PatientOut.of(patient) for patient in patients().search(q)]))


lambda_handler = make_handler(app)
