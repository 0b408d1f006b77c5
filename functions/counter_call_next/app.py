"""POST /counters/{counterId}/call-next (reception, admin): the token at the counter is served, the next is called.

One write, fenced by the day's version: today's CALLED token becomes SERVED and its first WAITING one by number
becomes CALLED. Either is null when there is none; an empty queue writes nothing.
"""

from __future__ import annotations

from opd.api.auth import STAFF
from opd.api.counters import CounterCallNextOut, CounterIdPath, token_out
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, counters, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, SlotBusy, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/counters/<counterId>/call-next",
    summary="Serve the token at a registration counter and call the next waiting one (reception, admin)",
    tags=["counters"],
    security=BEARER,
    responses={
        200: {"description": "OK: the token served and the token called, each null when there was none"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, SlotBusy, DependencyUnavailable),
    },
)
def counter_call_next(counterId: CounterIdPath) -> Response[CounterCallNextOut]:
    caller(app).require(*STAFF)
    desk = counters()
    served, called = desk.call_next(counterId)
    names = desk.names_of([served, called])
    return answer(
        CounterCallNextOut(counter_id=counterId, served=token_out(served, names), called=token_out(called, names))
    )


lambda_handler = make_handler(app)
