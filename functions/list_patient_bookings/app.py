"""GET /patients/{patientId}/bookings?from=&to= (the patient themself, reception, admin): their bookings by slot start.

Every state, each with its standing. `from` and `to` are clinic days, both included (default today and 30
days on; at most 92 days apart), each inside the window every date query has. One indexed query, no lock.
"""

from __future__ import annotations

from typing import Annotated

from opd.api.auth import may_list_bookings
from opd.api.models import PatientBookingsOut, PatientIdPath, Query, RequestDate
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler, window
from opd.contract import BookingOut
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/patients/<patientId>/bookings",
    summary="A patient's bookings in every state, by slot start (the patient themself, reception, admin)",
    tags=["bookings"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: the patient's bookings in the slots starting from `from` to `to` (clinic days, "
            "both included), by slot start; an unknown patient has none"
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
) -> Response[PatientBookingsOut]:
    may_list_bookings(caller(app), patientId)
    service = allocator()
    window(service).require(**{name: day for name, day in (("from", first), ("to", last)) if day is not None})
    bookings = service.patient_bookings(patientId, first, last)
    return answer(PatientBookingsOut(bookings=[BookingOut.of(booking) for booking in bookings]))


lambda_handler = make_handler(app)
