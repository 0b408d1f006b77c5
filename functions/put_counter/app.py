"""PUT /counters/{counterId} (admin): name a registration counter and its tokens' prefix, or rename it, whole.

A counter id works without a record (prefix R, its id as name). A new prefix labels the tokens issued from
then on; a token keeps the label it was issued with.
"""

from __future__ import annotations

from opd.api.auth import Role
from opd.api.counters import CounterIdPath, CounterOut, PutCounterRequest
from opd.api.observability import logger
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, counters, make_app, make_handler
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

app = make_app()


@app.put(
    "/counters/<counterId>",
    summary="Name a registration counter and the prefix of its token labels, or replace them (admin)",
    tags=["counters"],
    security=BEARER,
    responses={
        200: {"description": "OK: the counter as recorded now (created or replaced)"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def put_counter(counterId: CounterIdPath, request: PutCounterRequest) -> Response[CounterOut]:
    who = caller(app).require(Role.ADMIN)
    counter = counters().put_counter(counterId, request.name, request.prefix)
    logger.info("counter recorded", counter_id=counterId, by=who.username)
    return answer(CounterOut.of(counter))


lambda_handler = make_handler(app)
