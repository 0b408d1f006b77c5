"""Registration counters (contract v3, "Registration counters and ABDM Scan & Share"), as pure code.

A counter hands out tokens numbered 1, 2, 3... per clinic date, labelled `<prefix>-<number>` (`R-7`). A token
waits, is called to the counter, is served; what is still WAITING or CALLED when its day is over is EXPIRED.
Call next serves the CALLED token and calls the first WAITING one by number. A token shared through ABDM's Scan &
Share is valid for 30 minutes (`SHARE_VALIDITY`): a repeat share of that ABHA address at that counter before then
gets the same token, after it a new one. Its status still expires only at the end of the day.

No clock and no I/O here: the service reads the day, decides with these functions, and writes the result once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from opd.domain.doctors import text_problem, tidy
from opd.domain.model import ID_PATTERN
from opd.domain.queue import MAX_BOARD_NEXT
from opd.errors import ValidationFailed

MAX_COUNTER_NAME = 60  # characters, as a department's: it is read off the board
DEFAULT_PREFIX = "R"  # registration
PREFIX_PATTERN = re.compile(r"^[A-Z]{1,3}$")
# Tokens per counter and date: far beyond a day at one desk, and it keeps the day's one document bounded
# (~300 bytes a token, well under MongoDB's 16 MiB).
MAX_TOKENS_PER_DAY = 2000
SHARE_VALIDITY = timedelta(minutes=30)  # ABDM's test case expects a token valid for 30 minutes


class TokenStatus(StrEnum):
    WAITING = "WAITING"
    CALLED = "CALLED"
    SERVED = "SERVED"
    EXPIRED = "EXPIRED"


class TokenSource(StrEnum):
    DESK = "DESK"
    ABDM = "ABDM"


OPEN = frozenset({TokenStatus.WAITING, TokenStatus.CALLED})  # what the end of the day expires


@dataclass(frozen=True)
class Counter:
    """A registration counter. A counter id with no record still works: named by its id, prefix "R"."""

    counter_id: str
    name: str
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def of(cls, counter_id: str, name: str, prefix: str | None = None) -> Counter:
        """The counter as a client named it (the name tidied); ValidationFailed naming each field refused."""
        kept_name, kept_prefix = tidy(name), DEFAULT_PREFIX if prefix is None else prefix
        details = []
        if not ID_PATTERN.fullmatch(counter_id):
            details.append({"field": "counterId", "message": "must be 1-64 characters of A-Za-z0-9._:-"})
        if (problem := text_problem(kept_name, 1, MAX_COUNTER_NAME)) is not None:
            details.append({"field": "name", "message": problem})
        if not PREFIX_PATTERN.fullmatch(kept_prefix):
            details.append({"field": "prefix", "message": "must be 1-3 capital letters A-Z, e.g. R"})
        if details:
            raise ValidationFailed(f"invalid counter: {', '.join(d['field'] for d in details)}", details)
        return cls(counter_id, kept_name, kept_prefix)

    @classmethod
    def unrecorded(cls, counter_id: str) -> Counter:
        return cls(counter_id, counter_id)


def label(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def clinic_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def day_ends(day: date, zone: ZoneInfo) -> datetime:
    """The end of a clinic date: the next midnight in the clinic's zone."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)


@dataclass(frozen=True)
class CounterToken:
    """One token of a counter's day. `label` is made when it is issued, so a later change of prefix leaves it."""

    counter_id: str
    day: date
    number: int
    label: str
    status: TokenStatus
    source: TokenSource
    patient_id: str | None
    created_at: datetime
    expires_at: datetime  # DESK: the end of its day; ABDM: created + 30 minutes (the share's validity)
    called_at: datetime | None = None
    served_at: datetime | None = None
    abha_address: str | None = None  # ABDM tokens: whose share it answers (never logged, never in an answer)


def new_token(
    counter: Counter, day: date, number: int, patient_id: str | None, now: datetime, zone: ZoneInfo
) -> CounterToken:
    """A token issued at the desk, WAITING until the end of its day."""
    return CounterToken(
        counter_id=counter.counter_id,
        day=day,
        number=number,
        label=label(counter.prefix, number),
        status=TokenStatus.WAITING,
        source=TokenSource.DESK,
        patient_id=patient_id,
        created_at=now,
        expires_at=day_ends(day, zone),
    )


def as_of(token: CounterToken, today: date) -> CounterToken:
    """The token as it stands on `today`: WAITING or CALLED of an earlier day is EXPIRED."""
    if token.day < today and token.status in OPEN:
        return replace(token, status=TokenStatus.EXPIRED)
    return token


def expired_on(tokens: Iterable[CounterToken], today: date) -> list[CounterToken]:
    """The tokens `today` expires (what the sweeper writes), each as it becomes."""
    return [after for token in tokens if (after := as_of(token, today)) != token]


def in_number_order(tokens: Iterable[CounterToken]) -> list[CounterToken]:
    return sorted(tokens, key=lambda token: token.number)


@dataclass(frozen=True)
class CallNext:
    """Call next's decision: the token served and the token called (each None when there is none), and every
    token the one write changes."""

    served: CounterToken | None
    called: CounterToken | None
    changes: tuple[CounterToken, ...]


def call_next(tokens: Iterable[CounterToken], now: datetime) -> CallNext:
    """Serve the CALLED token, call the first WAITING one by number. Every change is one write, so there is never
    more than one CALLED; were there, each is served (the first answered), so the day heals itself."""
    ordered = in_number_order(tokens)
    served = [
        replace(token, status=TokenStatus.SERVED, served_at=now)
        for token in ordered
        if token.status is TokenStatus.CALLED
    ]
    waiting = next((token for token in ordered if token.status is TokenStatus.WAITING), None)
    called = None if waiting is None else replace(waiting, status=TokenStatus.CALLED, called_at=now)
    changes = (*served, *([] if called is None else [called]))
    return CallNext(served[0] if served else None, called, changes)


@dataclass(frozen=True)
class BoardView:
    """What a waiting-room screen shows of a counter's day: labels and a count, no patient."""

    calling: str | None
    next: tuple[str, ...]  # up to 5 WAITING labels, by number
    waiting: int


def board_view(tokens: Iterable[CounterToken], today: date) -> BoardView:
    current = [as_of(token, today) for token in in_number_order(tokens)]
    calling = next((token.label for token in current if token.status is TokenStatus.CALLED), None)
    waiting = [token.label for token in current if token.status is TokenStatus.WAITING]
    return BoardView(calling, tuple(waiting[:MAX_BOARD_NEXT]), len(waiting))


# -- ABDM Scan & Share: one share per counter and ABHA address, claimed before its number is taken -----------


def seconds_left(expires_at: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `expires_at`, never below 0 (the on-share's `expiry`)."""
    return max(0, int((expires_at - now).total_seconds()))


@dataclass(frozen=True)
class CounterShare:
    """A Scan & Share of one ABHA address at one counter: the claim on its token, and the on-share it owes.

    Claimed (number None) before the number is taken, so two shares at once get one token; `number` once taken.
    `request_id` is the latest share's REQUEST-ID, whose on-share is owed until `sent_at`; `expiry_s` the seconds
    the token had left when that share came (1800 for a new token)."""

    counter_id: str
    abha_address: str
    patient_id: str
    day: date
    claimed_at: datetime
    expires_at: datetime
    request_id: str
    shared_at: datetime  # the latest share
    expiry_s: int
    version: int = 1
    number: int | None = None
    label: str | None = None
    sent_at: datetime | None = None

    @classmethod
    def claim(
        cls, counter_id: str, abha_address: str, patient_id: str, request_id: str, day: date, now: datetime
    ) -> CounterShare:
        expires = now + SHARE_VALIDITY
        return cls(counter_id, abha_address, patient_id, day, now, expires, request_id, now, seconds_left(expires, now))

    def holds(self, now: datetime, today: date) -> bool:
        """Its token is the one a share now gets: of today, and not past its 30 minutes."""
        return self.day == today and now < self.expires_at

    def numbered(self, number: int, token_label: str) -> CounterShare:
        return replace(self, number=number, label=token_label, version=self.version + 1)

    def repeated(self, request_id: str, now: datetime) -> CounterShare:
        """The same token shared again: the new share's on-share is owed, with the seconds left now."""
        return replace(
            self,
            request_id=request_id,
            shared_at=now,
            sent_at=None,
            expiry_s=seconds_left(self.expires_at, now),
            version=self.version + 1,
        )

    def taken_over(self, claim: CounterShare) -> CounterShare:
        """`claim` in place of this expired (or abandoned) share, fenced by this one's version."""
        return replace(claim, version=self.version + 1)

    def sent(self, at: datetime) -> CounterShare:
        return replace(self, sent_at=at, version=self.version + 1)

    def token(self) -> CounterToken:
        """The token this share was numbered for, as its issue wrote it (to answer, or write, where it is missing)."""
        if self.number is None or self.label is None:
            raise ValueError("a share without a number has no token yet")
        return CounterToken(
            counter_id=self.counter_id,
            day=self.day,
            number=self.number,
            label=self.label,
            status=TokenStatus.WAITING,
            source=TokenSource.ABDM,
            patient_id=self.patient_id,
            created_at=self.claimed_at,
            expires_at=self.expires_at,
            abha_address=self.abha_address,
        )
