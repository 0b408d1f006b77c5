"""GET /slots/{slotId} (public): a slot with its limits, bookings held and places still available."""

from __future__ import annotations

from opd.api.models import SlotIdPath
from opd.api.openapi import error_responses
from opd.api.resolver import Response, allocator, answer, make_app, make_handler
from opd.contract import SlotOut
from opd.errors import DependencyUnavailable, NotFound, ValidationFailed

app = make_app()


@app.get(
    "/slots/<slotId>",
    summary="A slot with its limits, bookings held and places available per tier (public)",
    tags=["slots"],
    responses={
        200: {"description": "OK: the slot"},
        **error_responses(ValidationFailed, NotFound, DependencyUnavailable),
    },
)
def get_slot(slotId: SlotIdPath) -> Response[SlotOut]:
    service = allocator()
    return answer(SlotOut.of(service.get_slot(slotId), service.settings.delay_reduction_percent))


lambda_handler = make_handler(app)
