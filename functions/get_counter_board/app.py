"""GET /boards/counters/{counterId}?date=YYYY-MM-DD (public): the waiting-room screen of a registration counter.

Labels and a count only, never a patient. Two reads by primary key (the counter's record, its day), no lock;
its success may be kept a second by a shared cache (opd.api.resolver.PUBLIC_FOR_A_SECOND), as the doctors' board.
"""

from __future__ import annotations

from typing import Annotated

from opd.api.counters import CounterBoardOut, CounterIdPath
from opd.api.models import Query, RequestDate
from opd.api.openapi import error_responses
from opd.api.resolver import PUBLIC_FOR_A_SECOND, Response, answer, counters, make_app, make_handler, window
from opd.errors import DependencyUnavailable, ValidationFailed

app = make_app()


@app.get(
    "/boards/counters/<counterId>",
    summary="The waiting-room board of a registration counter's day: the label called, the next ones, how many wait "
    "(public)",
    tags=["counters"],
    responses={
        200: {
            "description": "OK: the counter's name (its id where none is recorded), the label being called, up to 5 "
            "waiting labels by number and how many wait; `Cache-Control: public, max-age=1`",
        },
        **error_responses(ValidationFailed, DependencyUnavailable),
    },
)
def get_counter_board(
    counterId: CounterIdPath,
    day: Annotated[
        RequestDate | None, Query(alias="date", description="a clinic day, YYYY-MM-DD; default today")
    ] = None,
) -> Response[CounterBoardOut]:
    desk = counters()
    day = day or desk.today()
    window(desk).require(date=day)
    return answer(CounterBoardOut.of(desk.board(counterId, day)), cache=PUBLIC_FOR_A_SECOND)


lambda_handler = make_handler(app)
