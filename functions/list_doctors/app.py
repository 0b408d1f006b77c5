"""GET /doctors?department= (public): the doctor directory, by department then name; one department if asked."""

from __future__ import annotations

from opd import domain
from opd.api.openapi import error_responses
from opd.api.people import DepartmentQuery, DoctorListOut, DoctorOut
from opd.api.resolver import Response, answer, doctors, make_app, make_handler
from opd.errors import DependencyUnavailable, ValidationFailed

app = make_app()


@app.get(
    "/doctors",
    summary="The doctors, by department then name; with `department`, that department's only (public)",
    tags=["doctors"],
    responses={
        200: {"description": "OK: the doctors recorded, by department then name (none: an empty list)"},
        **error_responses(ValidationFailed, DependencyUnavailable),
    },
)
def list_doctors(department: DepartmentQuery = None) -> Response[DoctorListOut]:
    # Tidied as the records' departments are, so "Cardiology " finds Cardiology.
    wanted = None if department is None else domain.department_of(department)
    return answer(DoctorListOut(doctors=[DoctorOut.of(doctor) for doctor in doctors().listing(wanted)]))


lambda_handler = make_handler(app)
