"""GET /doctors/{doctorId}/slots?date=YYYY-MM-DD (public): a doctor's slots on a clinic day, by start."""

from __future__ import annotations

from typing import Annotated

from opd.api.models import DoctorIdPath, Query, RequestDate, SlotListOut
from opd.api.openapi import error_responses
from opd.api.resolver import Response, allocator, answer, make_app, make_handler, window
from opd.contract import SlotOut
from opd.errors import DependencyUnavailable, ValidationFailed

app = make_app()


@app.get(
    "/doctors/<doctorId>/slots",
    summary="A doctor's slots on a clinic day (public)",
    tags=["slots"],
    responses={
        200: {"description": "OK: the slots starting that day, by start"},
        **error_responses(ValidationFailed, DependencyUnavailable),
    },
)
def list_doctor_slots(
    doctorId: DoctorIdPath, day: Annotated[RequestDate, Query(alias="date")]
) -> Response[SlotListOut]:
    service = allocator()
    window(service).require(date=day)
    slots = service.doctor_slots(doctorId, day)
    return answer(SlotListOut(slots=[SlotOut.of(slot, service.settings.delay_reduction_percent) for slot in slots]))


lambda_handler = make_handler(app)
