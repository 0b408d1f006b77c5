"""`CounterDesk`: the registration counters' operations (contract v3, "Registration counters and ABDM Scan & Share")
over the counters' store (`opd.counters`), with the decisions in `opd.domain.counters`.

Numbers come from the store's one atomic step, so a desk token needs no lock and no retry. A change of a day's
tokens (call next, the sweeper's expiry) reads the day, decides in the domain and writes once, fenced by the day's
version; a lost race reads again. An ABDM share first claims its (counter, ABHA address), then takes its number:
of two shares at once one claims and issues, the other waits for that number and answers the same token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from opd.domain.counters import (
    MAX_TOKENS_PER_DAY,
    SHARE_VALIDITY,
    Counter,
    CounterShare,
    CounterToken,
    as_of,
    board_view,
    clinic_day,
    expired_on,
    in_number_order,
    label,
    new_token,
)
from opd.domain.counters import call_next as decide_call
from opd.errors import DayFull, DependencyUnavailable, SlotBusy
from opd.service.ids import utc_now
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.counters import CounterStore

log = logging.getLogger(__name__)

CHANGE_ATTEMPTS = 10  # call next, the sweeper's close, an on-share marked sent: a lost race reads the day again
SHARE_ATTEMPTS = 40  # a share that finds its address being issued waits for the number: ~1 s in all
SHARE_WAIT_S = 0.025
# A claim this old still without its number, or a number still without its token, was left by a request that
# died (a function times out after 10 s): the next share takes it over, or writes the token itself.
STALE_CLAIM = timedelta(seconds=30)
SWEEP_DAYS = 500  # days closed per sweeper run at most; the next run takes the rest
DUE_LIMIT = 100  # on-shares re-sent per sweeper run at most


class PatientNames(Protocol):
    """The register, for the names staff see beside tokens (`opd.patients.PatientStore`)."""

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class SharedToken:
    """A Scan & Share's token: `new` False when a repeat share got the token of an earlier one."""

    token: CounterToken
    new: bool


@dataclass(frozen=True)
class PendingCallback:
    """What the on-share of a counter's share of one ABHA address says, for its latest share."""

    request_id: str  # the share's REQUEST-ID: the on-share's `response.requestId`
    abha_address: str
    context: str  # the counter id, as the share's metaData.context named it
    token_number: int
    label: str
    expiry: int  # seconds the token had left when that share came: 1800 for a new token
    sent_at: datetime | None  # when this share's on-share was delivered; None while it is owed


@dataclass(frozen=True)
class CounterBoard:
    """A counter's waiting-room board: labels and a count, and the counter's name (for the board page)."""

    counter_id: str
    name: str
    day: date
    calling: str | None
    next: tuple[str, ...]
    waiting: int


class CounterDesk:
    """The counters over a `CounterStore`; `clock` may be replaced on a built one (the tests fix it)."""

    def __init__(
        self,
        store: CounterStore,
        patients: PatientNames,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utc_now,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.patients = patients
        self.settings = settings or Settings()
        self.clock = clock
        self.pause = pause

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.clinic_zone

    def today(self, now: datetime | None = None) -> date:
        return clinic_day(now or self.clock(), self.zone)

    def counter(self, counter_id: str) -> Counter:
        """The counter as recorded; one without a record works all the same (its id as name, prefix R)."""
        return self.store.get(counter_id) or Counter.unrecorded(counter_id)

    def put_counter(self, counter_id: str, name: str, prefix: str | None) -> Counter:
        """Create or replace a counter's record; ValidationFailed naming each field refused."""
        counter = Counter.of(counter_id, name, prefix)
        self.store.record(counter)
        return counter

    def issue(self, counter_id: str, *, patient_id: str | None, now: datetime | None = None) -> CounterToken:
        """A desk token: the next number of today at this counter, WAITING. DayFull past MAX_TOKENS_PER_DAY."""
        now = now or self.clock()
        day = self.today(now)
        counter = self.counter(counter_id)
        token = new_token(counter, day, self._number(counter_id, day), patient_id, now, self.zone)
        self.store.write_token(token)
        return token

    def _number(self, counter_id: str, day: date) -> int:
        number = self.store.next_number(counter_id, day)
        if number is None:
            raise DayFull(
                f"counter {counter_id} has given all its tokens for {day}: at most {MAX_TOKENS_PER_DAY} tokens per "
                "counter and date",
                [{"counterId": counter_id, "date": day.isoformat(), "limit": MAX_TOKENS_PER_DAY}],
            )
        return number

    def call_next(
        self, counter_id: str, now: datetime | None = None
    ) -> tuple[CounterToken | None, CounterToken | None]:
        """(served, called): today's CALLED token served and its first WAITING one called, in one write; each
        None when there is none (an empty queue writes nothing)."""
        now = now or self.clock()
        day = self.today(now)
        for attempt in range(CHANGE_ATTEMPTS):
            found = self.store.day(counter_id, day)
            decision = decide_call(found.tokens if found else (), now)
            if found is None or not decision.changes:
                return None, None
            if self.store.write_changes(counter_id, day, found.version, decision.changes):
                return decision.served, decision.called
            self.pause(0.005 * (attempt + 1))  # tokens issued meanwhile: a moment, then decide again
        raise SlotBusy(f"counter {counter_id} kept changing under this call, try again", retry_after_seconds=1)

    def queue(self, counter_id: str, day: date) -> list[CounterToken]:
        """Every token of the counter's day in number order, as it stands today (past days' open ones EXPIRED)."""
        found = self.store.day(counter_id, day)
        if found is None:
            return []
        today = self.today()
        return [as_of(token, today) for token in in_number_order(found.tokens)]

    def names_of(self, tokens: Iterable[CounterToken | None]) -> Mapping[str, str]:
        """The registered names of these tokens' patients. A courtesy: a register that cannot be read gives none."""
        ids = {token.patient_id for token in tokens if token is not None and token.patient_id is not None}
        if not ids:
            return {}
        try:
            return self.patients.names_of(ids)
        except DependencyUnavailable as lost:
            log.warning("patient names left null in this answer: %s", lost.message)
            return {}

    def board(self, counter_id: str, day: date) -> CounterBoard:
        view = board_view(self.queue(counter_id, day), self.today())
        return CounterBoard(counter_id, self.counter(counter_id).name, day, view.calling, view.next, view.waiting)

    def close_days(self, today: date) -> int:
        """The sweeper's part: every day before `today` still open has its WAITING and CALLED tokens EXPIRED and is
        closed, one conditional write each. How many tokens this run expired."""
        return sum(
            self._close(counter_id, day, today) for counter_id, day in self.store.open_days_before(today, SWEEP_DAYS)
        )

    def _close(self, counter_id: str, day: date, today: date) -> int:
        for _ in range(CHANGE_ATTEMPTS):
            found = self.store.day(counter_id, day)
            if found is None:
                return 0
            changes = expired_on(found.tokens, today)
            if self.store.write_changes(counter_id, day, found.version, changes, close=True):
                return len(changes)
        log.warning("counter %s's day %s kept changing: closed by the next run", counter_id, day)
        return 0

    # -- ABDM Scan & Share -------------------------------------------------------------------------------------

    def issue_for_share(
        self, counter_id: str, *, abha_address: str, patient_id: str, request_id: str, now: datetime | None = None
    ) -> SharedToken:
        """The token of a Scan & Share at this counter: the same one for a repeat share while it holds (today, 30
        minutes), else a new one (source ABDM). Either way the share's on-share is owed (`share_callback`)."""
        now = now or self.clock()
        today = self.today(now)
        for _ in range(SHARE_ATTEMPTS):
            share = self.store.share(counter_id, abha_address)
            if share is not None and share.holds(now, today) and not _abandoned(share, now):
                if share.number is None:  # another request of this address is taking its number: wait for it
                    self.pause(SHARE_WAIT_S)
                    continue
                repeat = share.repeated(request_id, now)
                if self.store.replace_share(repeat, share.version):
                    return SharedToken(self._share_token(repeat, now), new=False)
                continue
            claim = CounterShare.claim(counter_id, abha_address, patient_id, request_id, today, now)
            if share is None:
                won = self.store.claim_share(claim)
            else:
                claim = share.taken_over(claim)
                won = self.store.replace_share(claim, share.version)
            if won:
                return SharedToken(self._issue_claimed(claim), new=True)
        raise SlotBusy("this ABHA address's token at this counter is being issued, try again", retry_after_seconds=1)

    def _issue_claimed(self, claim: CounterShare) -> CounterToken:
        """The claim's number taken, kept on the share, then the token written (what a repeat answers)."""
        counter = self.counter(claim.counter_id)
        try:
            number = self._number(claim.counter_id, claim.day)
        except DayFull:
            self.store.drop_share(claim)
            raise
        numbered = claim.numbered(number, label(counter.prefix, number))
        if not self.store.replace_share(numbered, claim.version):
            # Only a claim held past STALE_CLAIM is taken over: its taker's token is the one; this number stays unused.
            raise SlotBusy("this share took too long and was taken over, try again", retry_after_seconds=1)
        token = numbered.token()
        self.store.write_token(token)
        return token

    def _share_token(self, share: CounterShare, now: datetime) -> CounterToken:
        """The numbered share's token as the day holds it; as the share describes it while its issue is writing it,
        written here if that issue died before it did."""
        found = self.store.day(share.counter_id, share.day)
        token = next((t for t in found.tokens if t.number == share.number), None) if found else None
        if token is not None:
            return as_of(token, self.today(now))
        made = share.token()
        if now - share.claimed_at > STALE_CLAIM:
            self.store.write_token(made)
        return made

    def share_callback(self, counter_id: str, abha_address: str) -> PendingCallback | None:
        """What the on-share of the latest share of this address at this counter says; None while it has no number
        (or there is no such share). `sent_at` tells whether it was delivered already."""
        share = self.store.share(counter_id, abha_address)
        if share is None or share.number is None or share.label is None:
            return None
        return PendingCallback(
            request_id=share.request_id,
            abha_address=share.abha_address,
            context=share.counter_id,
            token_number=share.number,
            label=share.label,
            expiry=share.expiry_s,
            sent_at=share.sent_at,
        )

    def callback_sent(self, counter_id: str, abha_address: str, request_id: str, at: datetime) -> bool:
        """Record that the on-share answering `request_id` was delivered; False when a newer share owes its own (or
        it was recorded already), and nothing changes."""
        for _ in range(CHANGE_ATTEMPTS):
            share = self.store.share(counter_id, abha_address)
            if share is None or share.request_id != request_id or share.sent_at is not None:
                return False
            if self.store.replace_share(share.sent(at), share.version):
                return True
        return False

    def pending_callbacks(self, older_than: datetime) -> list[tuple[str, str]]:
        """(counter id, ABHA address) of numbered shares whose on-share is still owed, shared before `older_than`,
        oldest first, at most DUE_LIMIT: the sweeper's re-send of an on-share whose message was lost. Only shares
        still within their 30 minutes: a token number told after its expiry is of no use to the patient, and the
        queue's own retries (then its dead-letter queue) keep what the gateway refused."""
        return self.store.shares_due(older_than, older_than - SHARE_VALIDITY, DUE_LIMIT)


def _abandoned(share: CounterShare, now: datetime) -> bool:
    """A claim whose request died before taking its number: the next share takes it over."""
    return share.number is None and now - share.claimed_at > STALE_CLAIM
