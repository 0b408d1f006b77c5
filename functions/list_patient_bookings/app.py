"""GET /patients/{patientId}/bookings?from=&to=&after= (the patient themself, reception, admin): by slot start.

Every state, each with its standing, a page of at most 100 at a time: `next` is the cursor that `after=`
continues from, null on the last page. `from` and `to` are clinic days, both included (default today and 30
days on; at most 92 days apart), each inside the window every date query has. One indexed query a page, no lock.
"""

from __future__ import annotations

from typing import Annotated

from opd.api.answers import bookings_out
from opd.api.auth import may_list_bookings
from opd.api.models import PatientBookingsOut, PatientIdPath, Query, RequestDate
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler, window
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed
from opd.service.reads import CURSOR_MAX_LENGTH, CURSOR_PATTERN

app = make_app()


@app.get(
    "/patients/<patientId>/bookings",
    summary="A patient's bookings in every state, by slot start, a page at a time (the patient themself, reception, "
    "admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: the patient's bookings in the slots starting from `from` to `to` (clinic days, "
            "both included), by slot start, at most 100; `next` continues after the last of them (null on the "
            "last page); an unknown patient has none"
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def list_patient_bookings(
    patientId: PatientIdPath,
    first: Annotated[
        RequestDate | None, Query(alias="from", description="the first clinic day, YYYY-MM-DD; default today")
    ] = None,
    last: Annotated[
        RequestDate | None,
        Query(alias="to", description="the last clinic day, YYYY-MM-DD; default 30 days after `from`, at most 92"),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            description="the `next` of the previous page, as it was given: this page starts after its last booking "
            "(with other `from` and `to`, after that booking's place within those days); anything else is 400",
            pattern=CURSOR_PATTERN,
            max_length=CURSOR_MAX_LENGTH,
        ),
    ] = None,
) -> Response[PatientBookingsOut]:
    may_list_bookings(caller(app), patientId)
    service = allocator()
    window(service).require(**{name: day for name, day in (("from", first), ("to", last)) if day is not None})
    page = service.patient_bookings(patientId, first, last, after)
    return answer(PatientBookingsOut(bookings=bookings_out(page.bookings), next=page.next))


lambda_handler = make_handler(app)
