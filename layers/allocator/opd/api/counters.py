"""The registration counters' requests and answers (contract v3, "Registration counters and ABDM Scan & Share").

A request's types are checked here; a counter's name and prefix by the domain (`Counter.of`), which tidies the
name first, so the document shows the bounds and only the domain applies them (as for doctors, `opd.api.people`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from opd.api.models import Id, RequestModel
from opd.contract import ResponseModel, UtcTime
from opd.domain import ID_PATTERN, MAX_BOARD_NEXT
from opd.domain.counters import (
    MAX_COUNTER_NAME,
    PREFIX_PATTERN,
    Counter,
    CounterToken,
    TokenSource,
    TokenStatus,
)

if TYPE_CHECKING:
    from opd.service.counters import CounterBoard

# Named as in the contract (`{counterId}`), so a 400 names the same field.
CounterIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]


class PutCounterRequest(RequestModel):
    """PUT /counters/{counterId}: the whole record; no prefix: R."""

    name: Annotated[
        str,
        Field(
            strict=True, examples=["Registration 1"], json_schema_extra={"minLength": 1, "maxLength": MAX_COUNTER_NAME}
        ),
    ]
    prefix: (
        Annotated[str, Field(strict=True, examples=["R"], json_schema_extra={"pattern": PREFIX_PATTERN.pattern})] | None
    ) = None


class IssueTokenRequest(RequestModel):
    """POST /counters/{counterId}/tokens: for a registered patient, or for whoever is at the desk (no patientId)."""

    patient_id: Id | None = None


class CounterOut(ResponseModel):
    counter_id: str
    name: str
    prefix: str

    @classmethod
    def of(cls, counter: Counter) -> CounterOut:
        return cls(counter_id=counter.counter_id, name=counter.name, prefix=counter.prefix)


class CounterTokenOut(ResponseModel):
    """The contract's CounterToken: every field always present, null where it does not apply."""

    counter_id: str
    day: date = Field(alias="date")  # `date` is the type's name here; constructed as `date=`
    number: int
    label: str
    status: TokenStatus
    source: TokenSource
    patient_id: str | None
    patient_name: str | None  # from the register; null where the token has no registered patient
    created_at: UtcTime
    called_at: UtcTime | None
    served_at: UtcTime | None
    expires_at: UtcTime

    @classmethod
    def of(cls, token: CounterToken, names: Mapping[str, str]) -> CounterTokenOut:
        return cls(
            counter_id=token.counter_id,
            date=token.day,
            number=token.number,
            label=token.label,
            status=token.status,
            source=token.source,
            patient_id=token.patient_id,
            patient_name=None if token.patient_id is None else names.get(token.patient_id),
            created_at=token.created_at,
            called_at=token.called_at,
            served_at=token.served_at,
            expires_at=token.expires_at,
        )


def token_out(token: CounterToken | None, names: Mapping[str, str]) -> CounterTokenOut | None:
    return None if token is None else CounterTokenOut.of(token, names)


class CounterQueueOut(ResponseModel):
    """GET /counters/{counterId}/queue: every token of the day in number order, whatever its status."""

    counter_id: str
    day: date = Field(alias="date")
    tokens: list[CounterTokenOut]


class CounterCallNextOut(ResponseModel):
    """POST /counters/{counterId}/call-next: the token served and the token called, each null when none."""

    counter_id: str
    served: CounterTokenOut | None
    called: CounterTokenOut | None


class CounterBoardOut(ResponseModel):
    """GET /boards/counters/{counterId}: public, so labels and a count only, never a patient."""

    counter_id: str
    name: str = Field(description="the counter's name (its id where none is recorded)")
    day: date = Field(alias="date")
    calling: str | None
    next: list[str] = Field(description=f"up to {MAX_BOARD_NEXT} WAITING labels, by number")
    waiting: int

    @classmethod
    def of(cls, board: CounterBoard) -> CounterBoardOut:
        return cls(
            counter_id=board.counter_id,
            name=board.name,
            date=board.day,
            calling=board.calling,
            next=list(board.next),
            waiting=board.waiting,
        )
