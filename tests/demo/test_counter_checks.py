"""The demo's counter check (demo.counter.counter_checks) finds what it is there to find: a gap in the numbers, a
share whose on-share callback is missing or names another token, calls out of number order."""

from __future__ import annotations

from typing import Any

from demo.counter import EXPIRY_S, CounterDay, counter_checks


def token(number: int, source: str) -> dict[str, Any]:
    return {"number": number, "label": f"R-{number}", "source": source, "patientId": None, "patientName": None}


def a_good_day() -> CounterDay:
    day = CounterDay()
    day.tokens = {1: token(1, "ABDM"), 2: token(2, "DESK"), 3: token(3, "ABDM")}
    day.shares = {"req-1": "a@sbx", "req-3": "b@sbx"}
    day.callbacks = {
        "req-1": {"acknowledgement": {"tokenNumber": "1", "expiry": EXPIRY_S}},
        "req-3": {"acknowledgement": {"tokenNumber": "3", "expiry": EXPIRY_S}},
    }
    day.called = day.served = ["R-1", "R-2", "R-3"]
    return day


def test_a_good_counter_day_passes() -> None:
    check = counter_checks(a_good_day())
    assert check.ok, check.problems


def test_a_gap_in_the_numbers_fails() -> None:
    day = a_good_day()
    day.tokens[5] = token(5, "DESK")
    day.called = day.served = [*day.called, "R-5"]
    assert any("numbers" in p for p in counter_checks(day).problems)


def test_a_missing_or_wrong_callback_fails() -> None:
    day = a_good_day()
    del day.callbacks["req-1"]
    day.callbacks["req-3"] = {"acknowledgement": {"tokenNumber": "2", "expiry": EXPIRY_S}}  # the desk's token
    problems = counter_checks(day).problems
    assert any("no on-share callback" in p for p in problems), problems
    assert any("not one of its ABDM tokens" in p for p in problems), problems


def test_calls_out_of_number_order_fail() -> None:
    day = a_good_day()
    day.called = ["R-2", "R-1", "R-3"]
    assert any("number order" in p for p in counter_checks(day).problems)
