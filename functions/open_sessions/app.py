"""POST /doctors/{doctorId}/sessions (admin): a doctor's recurring session as slots, in one bulk write.

From `from` to `to` on the chosen weekdays, one slot per `slotMinutes` from `start` to `end`, read in
the clinic's time zone (CLINIC_TIME_ZONE): 09:00 stays 09:00 local on either side of a daylight-saving
change, and a start the clock skips has no slot. At most 500 slots a request, and at most 100 a doctor on
one clinic date, those that exist counted: more is 409 DAY_FULL and nothing is made, on any date. A slot
whose doctor and start exist is left as it is and listed in `existing`, so a repeat creates nothing more.
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api.auth import Role
from opd.api.models import DoctorIdPath, OpenSessionsRequest, SessionsOut
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler, window
from opd.errors import DayFull, DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/doctors/<doctorId>/sessions",
    summary="Open a doctor's recurring session: its slots on the chosen days, in the clinic's time zone (admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        201: {
            "description": "Created: the slots made now, by start, and the ids of those that existed (left as they "
            "were); a repeat creates nothing more",
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DayFull, DependencyUnavailable),
    },
)
def open_sessions(doctorId: DoctorIdPath, request: OpenSessionsRequest) -> Response[SessionsOut]:
    caller(app).require(Role.ADMIN)
    service = allocator()
    window(service).require(**{"from": request.first, "to": request.last})
    opened = service.open_sessions(doctorId, request.plan())
    return answer(SessionsOut.of(opened, service.settings), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
