"""GET /slots/{slotId}/queue (reception, admin): the CALLED, CHECKED_IN and BOOKED bookings in call order."""

from __future__ import annotations

from opd.api.answers import bookings_out
from opd.api.auth import STAFF
from opd.api.models import QueueOut, SlotIdPath
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, NotFound, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/slots/<slotId>/queue",
    summary="A slot's active bookings in call order (reception, admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: the CALLED booking, then CRITICAL ones, then the others, each by queue position; "
            "each with its position and estimated call time"
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, DependencyUnavailable),
    },
)
def get_queue(slotId: SlotIdPath) -> Response[QueueOut]:
    caller(app).require(*STAFF)
    queue = allocator().queue(slotId)
    return answer(QueueOut(slot_id=slotId, queue=bookings_out(queue)))


lambda_handler = make_handler(app)
