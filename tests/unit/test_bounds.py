"""The input bounds (contract, "Conventions"): body size and depth before parsing, strict JSON, the date window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from opd.api import bounds
from opd.api.bounds import MAX_BODY_BYTES, MAX_NESTING, Window
from opd.errors import ValidationFailed

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
IST = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")


def nested(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


def refusal(text: str) -> list[dict[str, object]]:
    with pytest.raises(ValidationFailed) as refused:
        bounds.check_json_text(text)
    assert refused.value.code == "VALIDATION_ERROR"
    return refused.value.details


@pytest.mark.parametrize(
    ("text", "deeper_than_32"),
    [
        (nested(32), False),
        (nested(33), True),
        ("[" * 33 + "]" * 33, True),
        ("[" * 32 + "]" * 32, False),
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets inside a string do not count
        ('{"a": "\\"' + "{" * 100 + '"}', False),  # nor after an escaped quote
        ('{"a": "\\\\"' + ", [" * 40 + "]" * 40 + "}", True),  # an escaped backslash ends the escape
        ("[]" * 10_000, False),  # many, but side by side
        ('"' + "[" * 100, False),  # an unterminated string: the parser refuses it
    ],
)
def test_nesting_is_counted_outside_strings(text: str, deeper_than_32: bool) -> None:
    assert bounds.nested_deeper_than(text) is deeper_than_32
    if deeper_than_32:
        assert refusal(text)[0]["field"] == "body"


def test_a_very_deep_body_is_refused_without_recursion() -> None:
    # 30 000 levels would exhaust the parser's (and pydantic's) stack; the scan stops at level 33.
    text = "[" * 30_000 + "]" * 30_000
    assert refusal(text) == [
        {"field": "body", "message": f"must not nest arrays and objects more than {MAX_NESTING} deep"}
    ]


def test_the_size_is_counted_in_utf8_bytes() -> None:
    padding = MAX_BODY_BYTES - len('{"a":""}')
    bounds.check_json_text('{"a":"' + "x" * padding + '"}')  # exactly 64 KiB
    assert refusal('{"a":"' + "x" * (padding + 1) + '"}')[0]["field"] == "body"
    # Fewer characters than the limit, more bytes: "é" is two bytes in UTF-8.
    text = '{"a":"' + "é" * (padding // 2 + 1) + '"}'
    assert len(text) < MAX_BODY_BYTES < len(text.encode())
    assert refusal(text)[0]["message"] == "must be at most 65536 bytes (64 KiB)"


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": ' + "9" * 5000 + "}"])
def test_only_json_parses_and_every_failure_is_a_decode_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        bounds.loads(text)


def test_big_but_finite_numbers_parse() -> None:
    assert bounds.loads('{"a": 1e400, "b": ' + "9" * 4000 + "}")["a"] == float("inf")


def test_the_window_runs_from_yesterday_to_five_years_ahead_in_the_clinic_zone() -> None:
    window = Window.around(NOW, UTC_ZONE)
    assert (window.first_day, window.last_day) == (date(2026, 11, 20), date(2031, 11, 21))
    assert window.contains(date(2026, 11, 20)) and window.contains(date(2031, 11, 21))
    assert not window.contains(date(2026, 11, 19)) and not window.contains(date(2031, 11, 22))
    assert window.contains(datetime(2026, 11, 20, 0, 0, tzinfo=UTC))
    assert not window.contains(datetime(2026, 11, 19, 23, 59, 59, tzinfo=UTC))
    assert window.contains(datetime(2031, 11, 21, 23, 59, 59, tzinfo=UTC))
    assert not window.contains(datetime(2031, 11, 22, 0, 0, tzinfo=UTC))
    # Compared as instants, whatever the offset: 05:29 at +05:30 is still the 19th in UTC.
    assert not window.contains(datetime(2026, 11, 20, 5, 29, tzinfo=timezone(timedelta(hours=5, minutes=30))))


def test_today_is_the_clinics_today() -> None:
    late_evening_utc = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # already the 22nd in India
    assert Window.around(late_evening_utc, IST).first_day == date(2026, 11, 21)
    assert Window.around(late_evening_utc, UTC_ZONE).first_day == date(2026, 11, 20)


def test_five_years_after_29_february() -> None:
    assert Window.around(datetime(2028, 2, 29, 12, tzinfo=UTC), UTC_ZONE).last_day == date(2033, 2, 28)


@pytest.mark.parametrize(
    "far",
    [
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime.fromisoformat("0001-01-01T00:00+05:30"),
    ],
)
def test_the_ends_of_time_are_outside_not_an_overflow(far: datetime) -> None:
    window = Window.around(NOW, IST)
    assert not window.contains(far)
    with pytest.raises(ValidationFailed) as refused:
        window.require(start=far, end=NOW)
    assert refused.value.details == [{"field": "start", "message": window.problem()}]
    assert refused.value.message == "invalid request: start"
