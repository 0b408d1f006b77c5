"""POST /counters/{counterId}/tokens (reception, admin): the next token of today at a registration counter.

Its number comes from one atomic step on the counter's day, so however many desks ask at once the numbers are
1, 2, 3... with none repeated. `patientId` is optional: a token for whoever stands at the desk needs none.
"""

from __future__ import annotations

from http import HTTPStatus

from opd.api.auth import STAFF
from opd.api.counters import CounterIdPath, CounterTokenOut, IssueTokenRequest
from opd.api.observability import count, logger
from opd.api.openapi import BEARER, error_responses
from opd.api.resolver import Response, answer, caller, counters, make_app, make_handler
from opd.errors import DayFull, DependencyUnavailable, Forbidden, SlotBusy, Unauthorized, ValidationFailed

app = make_app()


@app.post(
    "/counters/<counterId>/tokens",
    summary="Issue the next token of today at a registration counter, for a patient or for nobody named "
    "(reception, admin)",
    tags=["counters"],
    security=BEARER,
    responses={
        201: {"description": "Created: the token, WAITING, with its number and label"},
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DayFull, SlotBusy, DependencyUnavailable),
    },
)
def issue_counter_token(
    counterId: CounterIdPath, request: IssueTokenRequest | None = None
) -> Response[CounterTokenOut]:
    who = caller(app).require(*STAFF)
    desk = counters()
    token = desk.issue(counterId, patient_id=None if request is None else request.patient_id)
    logger.info("counter token issued", counter_id=counterId, number=token.number, by=who.username)
    count("CounterTokens", source="DESK")
    return answer(CounterTokenOut.of(token, desk.names_of([token])), HTTPStatus.CREATED)


lambda_handler = make_handler(app)
