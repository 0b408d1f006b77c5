"""POST /slots (admin): open a doctor's time slot with its capacity; at most 100 a doctor on one date (DAY_FULL)."""

from __future__ import annotations

from http import HTTPStatus

from opd.api.auth import Role
from opd.api.models import CreateSlotRequest
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler, window
from opd.contract import SlotOut
from opd.errors import DayFull, DependencyUnavailable, Forbidden, SlotExists, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/slots",
    summary="Open a doctor's time slot with its capacity (admin)",
    tags=["slots"],
    security=BEARER,
    responses={
        201: {"description": "Created: the new slot"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, SlotExists, DayFull, DependencyUnavailable),
    },
)
def create_slot(request: CreateSlotRequest) -> Response[SlotOut]:
    caller(app).require(Role.ADMIN)
    service = allocator()
    window(service).require(start=request.start, end=request.end)
    slot = service.create_slot(request.doctor_id, request.start, request.end, request.capacity())
    return answer(SlotOut.of(slot, service.settings.delay_reduction_percent), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
