"""Registration counters on the real server (nx-27017; a real MongoDB when MONGODB_URI is set): numbers from one
atomic step (200 at once are 1..200), call-next races, a counter's record, and ABDM Scan & Share's claim (a
repeat share of one ABHA address gets one token, however many arrive at once) and its on-share bookkeeping."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from opd.counters import CounterStore
from opd.domain.counters import MAX_TOKENS_PER_DAY, Counter, CounterShare, TokenSource, TokenStatus
from opd.errors import DayFull, ValidationFailed
from opd.mongo import Document
from opd.service.counters import CounterDesk
from opd.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
RAVI = "ravi.kumar@sbx"


class Names:
    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = names or {}

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]:
        return {pid: self.names[pid] for pid in patient_ids if pid in self.names}


@pytest.fixture
def store(mongo_client: MongoClient[Document], database_name: str) -> CounterStore:
    made = CounterStore(mongo_client[database_name]["counters"])
    made.ensure_indexes()
    return made


@pytest.fixture
def desk(store: CounterStore) -> CounterDesk:
    return CounterDesk(store, Names({"pt-ravi": "Ravi Kumar"}), Settings(), clock=lambda: NOW)


def at_once[T](count: int, work: Callable[[int], T]) -> list[T]:
    """`work(i)` for i in 0..count-1, each in its own thread, all released together."""
    gate = threading.Barrier(count)

    def run(i: int) -> T:
        gate.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def statuses(desk: CounterDesk, counter_id: str, day: date = TODAY) -> list[TokenStatus]:
    return [t.status for t in desk.queue(counter_id, day)]


# -- numbers -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_200_tokens_at_once_are_numbered_1_to_200_each_once(desk: CounterDesk) -> None:
    issued = at_once(200, lambda i: desk.issue("reg-1", patient_id=f"pt-{i}"))
    assert sorted(token.number for token in issued) == list(range(1, 201))
    stored = desk.queue("reg-1", TODAY)  # every token written under its own number, none lost
    assert [token.number for token in stored] == list(range(1, 201))
    assert {token.patient_id: token.number for token in stored} == {t.patient_id: t.number for t in issued}
    assert [token.label for token in stored[:3]] == ["R-1", "R-2", "R-3"]
    assert desk.issue("reg-1", patient_id=None).number == 201


def test_the_day_stops_at_its_limit_and_a_number_is_never_given_twice(desk: CounterDesk, store: CounterStore) -> None:
    store.days.insert_one({"_id": f"reg-1|{TODAY}", "lastNumber": MAX_TOKENS_PER_DAY - 2})
    given = at_once(5, lambda i: _issued_or_full(desk))
    assert sorted(given, key=str) == [MAX_TOKENS_PER_DAY - 1, MAX_TOKENS_PER_DAY, "DAY_FULL", "DAY_FULL", "DAY_FULL"]
    assert store.days.find_one({"_id": f"reg-1|{TODAY}"}, {"lastNumber": 1}) == {
        "_id": f"reg-1|{TODAY}",
        "lastNumber": MAX_TOKENS_PER_DAY,
    }


def _issued_or_full(desk: CounterDesk) -> int | str:
    try:
        return desk.issue("reg-1", patient_id=None).number
    except DayFull as full:
        return full.code


# -- call next ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_call_nexts_at_once_never_call_one_token_twice_nor_leave_two_called(desk: CounterDesk) -> None:
    for _ in range(12):
        desk.issue("reg-1", patient_id=None)
    called: list[int] = []
    served: list[int] = []
    for _ in range(7):
        for got_served, got_called in at_once(2, lambda i: desk.call_next("reg-1")):
            served += [got_served.number] if got_served else []
            called += [got_called.number] if got_called else []
        assert Tally(statuses(desk, "reg-1"))[TokenStatus.CALLED] <= 1
    assert sorted(called) == list(range(1, 13))  # each token called once, in all
    assert sorted(served) == list(range(1, 13))  # and served once
    assert statuses(desk, "reg-1") == [TokenStatus.SERVED] * 12


def test_called_and_served_times_read_back_as_times(desk: CounterDesk) -> None:
    desk.issue("reg-1", patient_id="pt-ravi")
    desk.issue("reg-1", patient_id=None)
    desk.call_next("reg-1", now=NOW + timedelta(minutes=1))
    served, called = desk.call_next("reg-1", now=NOW + timedelta(minutes=2))
    first, second = desk.queue("reg-1", TODAY)
    assert first == served and second == called  # as answered: nx-27017 keeps a whole token's times as times
    assert (first.called_at, first.served_at) == (NOW + timedelta(minutes=1), NOW + timedelta(minutes=2))
    assert desk.names_of([first, second, None]) == {"pt-ravi": "Ravi Kumar"}


# -- a counter's record ------------------------------------------------------------------------------------


def test_a_counter_is_recorded_replaced_and_read_back(desk: CounterDesk, store: CounterStore) -> None:
    assert desk.counter("reg-1") == Counter("reg-1", "reg-1", "R")  # no record: works all the same
    desk.put_counter("reg-1", "Registration 1", "A")
    assert store.get("reg-1") == Counter("reg-1", "Registration 1", "A")
    desk.put_counter("reg-1", "Registration One", None)
    assert store.get("reg-1") == Counter("reg-1", "Registration One", "R")
    assert store.counters.count_documents({}) == 1
    with pytest.raises(ValidationFailed):
        desk.put_counter("reg-1", "Registration", "a")
    assert desk.board("reg-1", TODAY).name == "Registration One"


# -- the sweeper's expiry ----------------------------------------------------------------------------------


def test_close_days_expires_only_days_before_today_and_only_once(desk: CounterDesk, store: CounterStore) -> None:
    yesterday = NOW - timedelta(days=1)
    for _ in range(3):
        desk.issue("reg-1", patient_id=None, now=yesterday)
    desk.call_next("reg-1", now=yesterday)
    desk.issue("reg-1", patient_id=None)  # today's
    assert desk.close_days(TODAY) == 3
    stored = store.day("reg-1", TODAY - timedelta(days=1))
    assert stored is not None and {t.status for t in stored.tokens} == {TokenStatus.EXPIRED}
    assert statuses(desk, "reg-1") == [TokenStatus.WAITING]
    assert desk.close_days(TODAY) == 0
    assert desk.close_days(TODAY + timedelta(days=1)) == 1  # tomorrow's sweep takes today's


# -- ABDM Scan & Share -------------------------------------------------------------------------------------


def share(desk: CounterDesk, request_id: str, now: datetime = NOW, abha: str = RAVI, counter: str = "reg-1") -> Any:
    return desk.issue_for_share(counter, abha_address=abha, patient_id="pt-ravi", request_id=request_id, now=now)


@pytest.mark.slow
def test_a_repeat_share_at_once_gets_one_token(desk: CounterDesk, store: CounterStore) -> None:
    shared = at_once(20, lambda i: share(desk, f"req-{i}"))
    assert {s.token.number for s in shared} == {1}
    assert [s.new for s in shared].count(True) == 1
    assert {(s.token.source, s.token.label, s.token.patient_id) for s in shared} == {
        (TokenSource.ABDM, "R-1", "pt-ravi")
    }
    assert [t.number for t in desk.queue("reg-1", TODAY)] == [1]
    owed = desk.share_callback("reg-1", RAVI)
    assert owed is not None and owed.request_id in {f"req-{i}" for i in range(20)} and owed.sent_at is None
    assert desk.issue("reg-1", patient_id=None).number == 2  # no number was taken and left unused


def test_a_share_holds_its_token_30_minutes_then_a_new_one(desk: CounterDesk) -> None:
    first = share(desk, "req-1")
    assert (first.new, first.token.number, first.token.expires_at) == (True, 1, NOW + timedelta(minutes=30))
    again = share(desk, "req-2", NOW + timedelta(minutes=29))
    assert (again.new, again.token) == (False, first.token)
    desk.issue("reg-1", patient_id=None)  # number 2 at the desk
    later = share(desk, "req-3", NOW + timedelta(minutes=30))
    assert (later.new, later.token.number) == (True, 3)
    elsewhere = share(desk, "req-4", counter="reg-2")
    assert (elsewhere.new, elsewhere.token.number) == (True, 1)  # the same address at another counter
    another = share(desk, "req-5", abha="asha.verma@sbx")
    assert (another.new, another.token.number) == (True, 4)


def test_a_called_share_token_is_answered_as_it_stands(desk: CounterDesk) -> None:
    share(desk, "req-1")
    desk.call_next("reg-1")
    again = share(desk, "req-2", NOW + timedelta(minutes=1))
    assert (again.new, again.token.status) == (False, TokenStatus.CALLED)


def test_the_on_share_owed_is_the_latest_share_s_until_recorded_sent(desk: CounterDesk) -> None:
    assert desk.share_callback("reg-1", RAVI) is None
    share(desk, "req-1")
    owed = desk.share_callback("reg-1", RAVI)
    assert owed is not None
    assert (owed.request_id, owed.abha_address, owed.context) == ("req-1", RAVI, "reg-1")
    assert (owed.token_number, owed.label, owed.expiry, owed.sent_at) == (1, "R-1", 1800, None)
    assert desk.pending_callbacks(NOW + timedelta(minutes=2)) == [("reg-1", RAVI)]
    assert desk.pending_callbacks(NOW) == []  # shared at NOW: not older than NOW

    assert desk.callback_sent("reg-1", RAVI, "req-0", NOW) is False  # not this share's request
    assert desk.callback_sent("reg-1", RAVI, "req-1", NOW + timedelta(seconds=3)) is True
    assert desk.callback_sent("reg-1", RAVI, "req-1", NOW + timedelta(seconds=4)) is False  # recorded already
    sent = desk.share_callback("reg-1", RAVI)
    assert sent is not None and sent.sent_at == NOW + timedelta(seconds=3)
    assert desk.pending_callbacks(NOW + timedelta(minutes=2)) == []

    share(desk, "req-2", NOW + timedelta(minutes=10))  # the repeat owes its own, with the seconds left
    repeat = desk.share_callback("reg-1", RAVI)
    assert repeat is not None and (repeat.request_id, repeat.expiry, repeat.sent_at) == ("req-2", 1200, None)
    assert desk.pending_callbacks(NOW + timedelta(minutes=13)) == [("reg-1", RAVI)]


def test_a_claim_left_without_its_number_is_taken_over(desk: CounterDesk, store: CounterStore) -> None:
    long_ago = NOW - timedelta(minutes=1)  # a request that died after its claim
    assert store.claim_share(CounterShare.claim("reg-1", RAVI, "pt-ravi", "req-dead", TODAY, long_ago))
    assert desk.share_callback("reg-1", RAVI) is None  # no number yet: nothing to call back
    taken = share(desk, "req-1")
    assert (taken.new, taken.token.number) == (True, 1)
    owed = desk.share_callback("reg-1", RAVI)
    assert owed is not None and owed.request_id == "req-1"


def test_a_number_left_without_its_token_is_written_by_the_repeat(desk: CounterDesk, store: CounterStore) -> None:
    long_ago = NOW - timedelta(minutes=1)  # a request that died after numbering its share
    claim = CounterShare.claim("reg-1", RAVI, "pt-ravi", "req-dead", TODAY, long_ago)
    assert store.claim_share(claim)
    number = store.next_number("reg-1", TODAY)
    assert number == 1
    assert store.replace_share(claim.numbered(number, "R-1"), claim.version)
    assert desk.queue("reg-1", TODAY) == []

    again = share(desk, "req-1")
    assert (again.new, again.token.number, again.token.created_at) == (False, 1, long_ago)
    assert [(t.number, t.source, t.status) for t in desk.queue("reg-1", TODAY)] == [
        (1, TokenSource.ABDM, TokenStatus.WAITING)
    ]


def test_a_share_at_a_full_counter_is_refused_and_leaves_no_claim(desk: CounterDesk, store: CounterStore) -> None:
    store.days.insert_one({"_id": f"reg-1|{TODAY}", "lastNumber": MAX_TOKENS_PER_DAY})
    with pytest.raises(DayFull):
        share(desk, "req-1")
    assert store.share("reg-1", RAVI) is None
