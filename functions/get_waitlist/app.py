"""GET /slots/{slotId}/waitlist (reception, admin): the WAITLISTED bookings in the order they joined."""

from __future__ import annotations

from opd.api.answers import bookings_out
from opd.api.auth import STAFF
from opd.api.models import SlotIdPath, WaitlistOut
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, NotFound, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/slots/<slotId>/waitlist",
    summary="A slot's waitlist in the order its patients joined (reception, admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: the WAITLISTED bookings in join order, each with its 1-based waitlistPosition; "
            "a freed place goes to the first whose tier has room"
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, DependencyUnavailable),
    },
)
def get_waitlist(slotId: SlotIdPath) -> Response[WaitlistOut]:
    caller(app).require(*STAFF)
    waitlist = allocator().waitlist(slotId)
    return answer(WaitlistOut(slot_id=slotId, waitlist=bookings_out(waitlist)))


lambda_handler = make_handler(app)
