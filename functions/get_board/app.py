"""GET /boards/{doctorId}?date=YYYY-MM-DD (public): the waiting-room screen of a doctor's clinic day.

Token numbers only, never a patient id or phone. Every screen reads it every few seconds, so it is
one indexed query (the doctor's slots that day, as GET /doctors/{id}/slots) and one read by primary
key (the doctor's name and room from the directory; a doctor with no record is shown by its id), and
takes no lock; its success may be kept a second by a shared cache (opd.api.resolver.PUBLIC_FOR_A_SECOND).
"""

from __future__ import annotations

from typing import Annotated

from opd.api.models import BoardOut, DoctorIdPath, Query, RequestDate
from opd.api.openapi import error_responses
from opd.api.resolver import (
    PUBLIC_FOR_A_SECOND,
    Response,
    allocator,
    answer,
    doctors,
    make_app,
    make_handler,
    window,
)
from opd.errors import DependencyUnavailable, ValidationFailed

app = make_app()


@app.get(
    "/boards/<doctorId>",
    summary="The waiting-room board of a doctor's clinic day: the token called, the next ones, how many wait (public)",
    tags=["room"],
    responses={
        200: {
            "description": "OK: the doctor's name and room from the directory (its id and null where none is "
            "recorded), its slots starting that day, by start, with token numbers only; "
            "`Cache-Control: public, max-age=1`",
        },
        **error_responses(ValidationFailed, DependencyUnavailable),
    },
)
def get_board(doctorId: DoctorIdPath, day: Annotated[RequestDate, Query(alias="date")]) -> Response[BoardOut]:
    service = allocator()
    window(service).require(date=day)
    board = BoardOut.of(doctorId, day, service.doctor_slots(doctorId, day), doctors().get(doctorId))
    return answer(board, cache=PUBLIC_FOR_A_SECOND)


lambda_handler = make_handler(app)
