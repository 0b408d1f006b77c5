"""POST /slots/{slotId}/call-next (reception, admin): the patient in the room is done, the next one is called in.

One write: the slot's CALLED booking becomes COMPLETED and its first CHECKED_IN one in call order
(CRITICAL first) becomes CALLED. Either is null when there is nobody: then nothing is written.
"""

from __future__ import annotations

from opd.api.answers import names_of
from opd.api.auth import STAFF
from opd.api.models import CallNextOut, SlotIdPath
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, allocator, answer, caller, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, NotFound, SlotBusy, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/slots/<slotId>/call-next",
    summary="Complete the patient in the room and call the next checked-in one, CRITICAL first (reception, admin)",
    tags=["room"],
    security=BEARER,
    responses={
        200: {"description": "OK: the booking completed and the booking called, each null when there was none"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, NotFound, SlotBusy, DependencyUnavailable),
    },
)
def call_next(slotId: SlotIdPath) -> Response[CallNextOut]:
    who = caller(app).require(*STAFF)
    moved = allocator().call_next(slotId, by=who.username)
    names = names_of([moved.completed, moved.called])
    return answer(CallNextOut.of(slotId, moved.completed, moved.called, names))


lambda_handler = make_handler(app)
