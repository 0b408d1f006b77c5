"""GET /counters/{counterId}/queue?date=YYYY-MM-DD (reception, admin): every token of a counter's day, by number.

Every status, each with its patient's name from the register (null where the register cannot be read). A day
that is over shows its WAITING and CALLED tokens EXPIRED, whether or not the sweeper has written it yet.
"""

from __future__ import annotations

from typing import Annotated

from opd.api.auth import STAFF
from opd.api.counters import CounterIdPath, CounterQueueOut, CounterTokenOut
from opd.api.models import Query, RequestDate
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, counters, make_app, make_handler, window
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.get(
    "/counters/<counterId>/queue",
    summary="A registration counter's tokens of one day in number order, with patients' names (reception, admin)",
    tags=["counters"],
    security=BEARER,
    responses={
        200: {"description": "OK: the day's tokens in number order, every status; none for a day without tokens"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def get_counter_queue(
    counterId: CounterIdPath,
    day: Annotated[
        RequestDate | None, Query(alias="date", description="a clinic day, YYYY-MM-DD; default today")
    ] = None,
) -> Response[CounterQueueOut]:
    caller(app).require(*STAFF)
    desk = counters()
    day = day or desk.today()
    window(desk).require(date=day)
    tokens = desk.queue(counterId, day)
    names = desk.names_of(tokens)
    return answer(
        CounterQueueOut(counter_id=counterId, date=day, tokens=[CounterTokenOut.of(token, names) for token in tokens])
    )


lambda_handler = make_handler(app)
