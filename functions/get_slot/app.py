"""GET /slots/{slotId} (public): a slot with its limits, bookings held and places still available."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from opd.api.models import SlotIdPath, SlotOut
from opd.api.resolver import allocator, answer, make_app, make_handler

app = make_app()


@app.get("/slots/<slotId>")
def get_slot(slotId: SlotIdPath) -> Response[SlotOut]:
    service = allocator()
    return answer(SlotOut.of(service.get_slot(slotId), service.settings))


lambda_handler = make_handler(app)
