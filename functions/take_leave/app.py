"""POST /doctors/{doctorId}/leave (admin): the doctor is away for a clinic day.

Every slot of the doctor that day is closed (new bookings: 409 SLOT_CLOSED) and its WAITLISTED, BOOKED
and CHECKED_IN bookings are cancelled (DOCTOR_UNAVAILABLE), one slot's write at a time; CALLED and final
ones are left as they are. A slot whose lock cannot be had stops the request with 429 SLOT_BUSY, the
slots before it done: a repeat finishes the day and changes nothing more where it was done. The
optional `reason` is not stored: it is on this request's log lines (`leave_reason`), a 429's or 503's too.
"""

from __future__ import annotations

from opd.api.answers import names_of
from opd.api.auth import Role
from opd.api.models import DoctorIdPath, LeaveOut, TakeLeaveRequest
from opd.api.observability import logger
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler, window
from opd.errors import DependencyUnavailable, Forbidden, SlotBusy, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/doctors/<doctorId>/leave",
    summary="Record a doctor's leave for a day: close its slots, cancel their waiting patients (admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: how many slots the doctor has that day (all closed now) and the bookings this "
            "request cancelled (a repeat: none)",
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, SlotBusy, DependencyUnavailable),
    },
)
def take_leave(doctorId: DoctorIdPath, request: TakeLeaveRequest) -> Response[LeaveOut]:
    who = caller(app).require(Role.ADMIN)
    service = allocator()
    window(service).require(date=request.day)
    # On every later line of this invocation, an interrupted request's refusal included (cleared at the next).
    logger.append_keys(doctor_id=doctorId, leave_date=request.day.isoformat(), leave_reason=request.reason)
    taken = service.take_leave(doctorId, request.day, by=who.username)
    logger.info("leave recorded", by=who.username, slots=taken.slots, cancelled=len(taken.cancelled))
    return answer(LeaveOut.of(taken, names_of(taken.cancelled)))


lambda_handler = make_handler(app)
