"""Every input is bounded (contract, "Conventions"), so no request can reach a 5xx.

A JSON body: at most 64 KiB and 32 levels of arrays and objects, both checked before it is parsed
(the depth by a flat scan, so a hostile body cannot exhaust the parser's stack). Times and dates:
within `Window`, from the start of yesterday to the end of the day five years from today in the
clinic's time zone, with "today" read from the service's clock, so tests can fix it. Anything
further out is no booking anyone makes, and far enough out (year 1, year 9999) it overflowed the
arithmetic that follows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from opd.errors import ValidationFailed

MAX_BODY_BYTES = 64 * 1024
MAX_NESTING = 32
PAST_DAYS = 1
FUTURE_YEARS = 5

# A JSON string (possibly unterminated: the parser refuses that later) or one bracket. Strings are
# matched whole so brackets inside them do not count; the regex engine walks them, not Python.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def invalid(details: list[dict[str, Any]]) -> ValidationFailed:
    """In the words of a request pydantic refused: `invalid request: <fields>`, one detail per field."""
    return ValidationFailed(f"invalid request: {', '.join(d['field'] for d in details)}", details)


def body_too_large() -> ValidationFailed:
    return invalid(
        [{"field": "body", "message": f"must be at most {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 1024} KiB)"}]
    )


def nested_deeper_than(text: str, limit: int = MAX_NESTING) -> bool:
    """True if arrays and objects nest more than `limit` deep outside strings; stops at the first excess."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        first = text[match.start()]
        if first in "[{":
            depth += 1
            if depth > limit:
                return True
        elif first in "]}":
            depth -= 1
    return False


def check_json_text(text: str) -> None:
    """ValidationFailed on `body` if the text is over MAX_BODY_BYTES (UTF-8) or nested over MAX_NESTING."""
    # Characters never outnumber bytes, so the encoding (for the exact size) runs only on a bounded text.
    if len(text) > MAX_BODY_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise body_too_large()
    if nested_deeper_than(text):
        raise invalid([{"field": "body", "message": f"must not nest arrays and objects more than {MAX_NESTING} deep"}])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """`json.loads` for a checked text: strict JSON (no NaN or Infinity); any failure is a JSONDecodeError."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:  # e.g. an integer of more than 4300 digits
        raise json.JSONDecodeError(str(error), text, 0) from None


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year that has none
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Window:
    """The days an input may name, both included, in the clinic's time zone."""

    first_day: date
    last_day: date
    zone: ZoneInfo

    @classmethod
    def around(cls, now: datetime, zone: ZoneInfo) -> Window:
        today = now.astimezone(zone).date()
        return cls(today - timedelta(days=PAST_DAYS), _years_later(today, FUTURE_YEARS), zone)

    @property
    def opens(self) -> datetime:
        return datetime.combine(self.first_day, clock_time(), tzinfo=self.zone)

    @property
    def closes(self) -> datetime:
        """The first instant after the window."""
        return datetime.combine(self.last_day + timedelta(days=1), clock_time(), tzinfo=self.zone)

    def contains(self, value: date) -> bool:
        if isinstance(value, datetime):  # compared as instants, whatever offset it was written with
            return self.opens <= value < self.closes
        return self.first_day <= value <= self.last_day

    def problem(self) -> str:
        return (
            f"must be from {self.first_day} to {self.last_day}, clinic time ({self.zone}): "
            f"at most {PAST_DAYS} day back and {FUTURE_YEARS} years ahead"
        )

    def require(self, **values: date) -> None:
        """ValidationFailed naming every field (keyword) whose date or time falls outside the window."""
        details = [
            {"field": name, "message": self.problem()} for name, value in values.items() if not self.contains(value)
        ]
        if details:
            raise invalid(details)
