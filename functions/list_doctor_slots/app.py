"""GET /doctors/{doctorId}/slots?date=YYYY-MM-DD (public): a doctor's slots on a clinic day, by start."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from opd.api.models import DoctorIdPath, SlotListOut, SlotOut
from opd.api.resolver import allocator, answer, make_app, make_handler

app = make_app()


@app.get("/doctors/<doctorId>/slots")
def list_doctor_slots(doctorId: DoctorIdPath, day: Annotated[date, Query(alias="date")]) -> Response[SlotListOut]:
    service = allocator()
    slots = service.doctor_slots(doctorId, day)
    return answer(SlotListOut(slots=[SlotOut.of(slot, service.settings) for slot in slots]))


lambda_handler = make_handler(app)
