"""Registration counters as pure code (contract v3, "Registration counters and ABDM Scan & Share"): a counter's
record, labels, call-next order, expiry after the day, the ABDM share's 30 minutes, and the board's view."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opd.domain.counters import (
    MAX_COUNTER_NAME,
    SHARE_VALIDITY,
    Counter,
    CounterShare,
    CounterToken,
    TokenSource,
    TokenStatus,
    as_of,
    board_view,
    call_next,
    clinic_day,
    day_ends,
    expired_on,
    label,
    new_token,
    seconds_left,
)
from opd.errors import ValidationFailed

KOLKATA = ZoneInfo("Asia/Kolkata")
DAY = date(2030, 11, 21)
NOW = datetime(2030, 11, 21, 4, 0, tzinfo=UTC)  # 09:30 in Kolkata
REG = Counter("reg-1", "Registration 1", "R")
W, C, S, E = TokenStatus.WAITING, TokenStatus.CALLED, TokenStatus.SERVED, TokenStatus.EXPIRED


def token(number: int, status: TokenStatus = W, day: date = DAY) -> CounterToken:
    return replace(new_token(REG, day, number, f"pt-{number}", NOW, KOLKATA), status=status)


def statuses(tokens: list[CounterToken]) -> list[TokenStatus]:
    return [t.status for t in sorted(tokens, key=lambda t: t.number)]


# -- the counter's record and labels -------------------------------------------------------------------


def test_a_counter_as_named_with_the_default_prefix() -> None:
    assert Counter.of("reg-1", "  Registration 1 ") == Counter("reg-1", "Registration 1", "R")
    assert Counter.of("reg-2", "पंजीकरण", "OPD").prefix == "OPD"
    assert Counter.unrecorded("reg-9") == Counter("reg-9", "reg-9", "R")  # no record: its id, prefix R


@pytest.mark.parametrize(
    ("counter_id", "name", "prefix", "fields"),
    [
        ("reg 1", "Registration", "R", ["counterId"]),
        ("reg-1", " ", "R", ["name"]),
        ("reg-1", "x" * (MAX_COUNTER_NAME + 1), "R", ["name"]),
        ("reg-1", "Registration\u202e", "R", ["name"]),  # a bidi override would reorder the board
        ("reg-1", "Registration", "r", ["prefix"]),
        ("reg-1", "Registration", "ABCD", ["prefix"]),
        ("reg-1", "Registration", "", ["prefix"]),
        ("reg-1", "Registration", "R1", ["prefix"]),
        ("", "", "rr", ["counterId", "name", "prefix"]),
    ],
)
def test_a_counter_is_refused_naming_each_field(counter_id: str, name: str, prefix: str, fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Counter.of(counter_id, name, prefix)
    assert [detail["field"] for detail in refused.value.details] == fields


def test_the_longest_name_and_prefix_are_kept() -> None:
    assert MAX_COUNTER_NAME == 60
    assert Counter.of("reg-1", "x" * MAX_COUNTER_NAME, "ABC") == Counter("reg-1", "x" * MAX_COUNTER_NAME, "ABC")


def test_a_desk_token_is_labelled_waiting_and_expires_at_the_clinic_midnight() -> None:
    issued = new_token(Counter("reg-2", "Registration 2", "OPD"), DAY, 7, None, NOW, KOLKATA)
    assert (issued.label, label("R", 12)) == ("OPD-7", "R-12")
    assert (issued.status, issued.source, issued.patient_id, issued.created_at) == (W, TokenSource.DESK, None, NOW)
    assert issued.expires_at == datetime(2030, 11, 22, tzinfo=KOLKATA) == datetime(2030, 11, 21, 18, 30, tzinfo=UTC)


def test_the_clinic_day_is_the_zone_s() -> None:
    late_utc = datetime(2030, 11, 21, 19, 0, tzinfo=UTC)  # 00:30 on the 22nd in Kolkata
    assert clinic_day(late_utc, KOLKATA) == date(2030, 11, 22)
    assert clinic_day(late_utc, ZoneInfo("UTC")) == DAY
    assert day_ends(DAY, ZoneInfo("UTC")) == datetime(2030, 11, 22, tzinfo=UTC)


# -- call next ----------------------------------------------------------------------------------------


def test_call_next_serves_the_called_token_and_calls_the_first_waiting_by_number() -> None:
    later = NOW + timedelta(minutes=3)
    decision = call_next([token(4), token(2, C), token(3), token(1, S)], later)
    assert decision.served == replace(token(2, C), status=S, served_at=later)
    assert decision.called == replace(token(3), status=C, called_at=later)
    assert decision.changes == (decision.served, decision.called)


def test_call_next_on_the_first_token_and_on_an_empty_queue() -> None:
    first = call_next([token(2), token(1)], NOW)
    assert (first.served, first.called.number if first.called else None) == (None, 1)
    last = call_next([token(1, S), token(2, C)], NOW)
    assert (last.served and last.served.number, last.called) == (2, None)
    nothing = call_next([token(1, S), token(2, E)], NOW)
    assert (nothing.served, nothing.called, nothing.changes) == (None, None, ())
    assert call_next([], NOW).changes == ()


def test_two_called_tokens_are_both_served_and_the_first_answered() -> None:
    decision = call_next([token(3, C), token(1, C), token(5)], NOW)
    assert decision.served is not None and decision.served.number == 1
    assert [(t.number, t.status) for t in decision.changes] == [(1, S), (3, S), (5, C)]


# -- expiry after the day ----------------------------------------------------------------------------------


def test_waiting_and_called_tokens_expire_after_their_day_and_nothing_else() -> None:
    day = [token(1, S), token(2, C), token(3), token(4, E)]
    assert [as_of(t, DAY).status for t in day] == [S, C, W, E]  # still their day
    after = [as_of(t, DAY + timedelta(days=1)) for t in day]
    assert [t.status for t in after] == [S, E, E, E]
    assert after[1] == replace(day[1], status=E)  # nothing else changes
    assert expired_on(day, DAY) == []
    assert expired_on(day, DAY + timedelta(days=1)) == [replace(day[1], status=E), replace(day[2], status=E)]


# -- the board's view ------------------------------------------------------------------------------------


def test_the_board_shows_the_called_label_the_next_five_and_how_many_wait() -> None:
    tokens = [token(n) for n in range(9, 1, -1)] + [token(1, C)]
    view = board_view(tokens, DAY)
    assert (view.calling, view.next, view.waiting) == ("R-1", ("R-2", "R-3", "R-4", "R-5", "R-6"), 8)
    assert board_view([token(1, S)], DAY) == type(view)(None, (), 0)


def test_the_board_of_a_past_day_calls_nobody_and_has_nobody_waiting() -> None:
    view = board_view([token(1, C), token(2)], DAY + timedelta(days=1))
    assert (view.calling, view.next, view.waiting) == (None, (), 0)


# -- the ABDM share's window -------------------------------------------------------------------------------


def share() -> CounterShare:
    return CounterShare.claim("reg-1", "ravi.kumar@sbx", "pt-ravi", "req-1", DAY, NOW)


def test_a_new_share_holds_its_token_for_30_minutes_of_its_day() -> None:
    made = share()
    assert timedelta(minutes=30) == SHARE_VALIDITY
    assert (made.expires_at, made.expiry_s, made.number, made.sent_at) == (NOW + SHARE_VALIDITY, 1800, None, None)
    assert made.holds(NOW + timedelta(minutes=29, seconds=59), DAY)
    assert not made.holds(NOW + SHARE_VALIDITY, DAY)
    assert not made.holds(NOW + timedelta(minutes=1), DAY + timedelta(days=1))  # another day: a new token


def test_a_repeat_share_owes_its_own_on_share_with_the_seconds_left() -> None:
    numbered = share().numbered(7, "R-7")
    sent = numbered.sent(NOW + timedelta(seconds=2))
    again = sent.repeated("req-2", NOW + timedelta(minutes=10))
    assert (again.number, again.label, again.request_id, again.sent_at, again.expiry_s) == (
        7,
        "R-7",
        "req-2",
        None,
        1200,
    )
    assert (numbered.version, sent.version, again.version) == (2, 3, 4)
    assert seconds_left(NOW, NOW + timedelta(hours=1)) == 0


def test_a_share_s_token_is_its_abdm_token_valid_30_minutes() -> None:
    made = share().numbered(7, "R-7").token()
    assert (made.number, made.label, made.source, made.status) == (7, "R-7", TokenSource.ABDM, W)
    assert (made.patient_id, made.abha_address, made.created_at) == ("pt-ravi", "ravi.kumar@sbx", NOW)
    assert made.expires_at == NOW + SHARE_VALIDITY
    with pytest.raises(ValueError, match="no token yet"):
        share().token()
