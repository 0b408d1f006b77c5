"""PUT /slots/{slotId}/delay (admin): mark the doctor late (or on time); new bookings see the new limits."""

from __future__ import annotations

from opd.api.auth import Role
from opd.api.models import SetDelayRequest, SlotIdPath
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.contract import SlotOut
from opd.errors import DependencyUnavailable, Forbidden, NotFound, SlotBusy, Unauthorized, ValidationFailed

app = make_app()


@app.put(
    "/slots/<slotId>/delay",
    summary="Mark the doctor late, or on time again; new bookings see the new limits (admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        200: {"description": "OK: the slot with its new limits"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, SlotBusy, DependencyUnavailable),
    },
)
def set_delay(slotId: SlotIdPath, request: SetDelayRequest) -> Response[SlotOut]:
    caller(app).require(Role.ADMIN)
    service = allocator()
    slot = service.set_delay(slotId, request.delayed, request.minutes)
    return answer(SlotOut.of(slot, service.settings.delay_reduction_percent))


lambda_handler = make_handler(app)
