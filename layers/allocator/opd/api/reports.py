"""GET /reports/daily's answers (contract, "Reports"): the DayReport as JSON, the same rows as CSV, and its dates.

Both are made from the stored rows (`opd.dayreports.DayRow`): the JSON row nests the figures by their dotted names
(`waitMinutes.median` is `{"waitMinutes": {"median": ...}}`), and the CSV has one column per figure under that dotted
name, every reason and tier always a column, in the JSON's order, a null an empty cell. So the CSV's cells are the
JSON's values written as text. The rows are assembled without a model, as stored (4,600 rows through pydantic cost
more than their read; benchmarks/reports.py); `DayReportOut` is what the OpenAPI document shows, and the route's tests
check every answer against it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

from pydantic import Field

from opd.api.bounds import FUTURE_YEARS, invalid
from opd.contract import ResponseModel
from opd.domain import CancelReason, Tier
from opd.domain.daily import FIGURES, PAST_YEARS, DayRow, years_before

MAX_REPORT_DAYS = 92  # dates one report covers, both ends included
DEFAULT_REPORT_DAYS = 7  # the last 7 days, today included (today's row appears once its day is over)
REPORT_PAST_YEARS = PAST_YEARS  # the oldest date a report may ask for: today less 2 years
CSV_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


class MeasureOut(ResponseModel):
    median: float | None
    p90: float | None


class WaitlistFiguresOut(ResponseModel):
    joined: int
    promoted: int
    expired: int


class TierFiguresOut(ResponseModel):
    places: int
    no_shows: int


class DayReportOut(ResponseModel):
    """The contract's DayReport: one doctor's clinic date, final once it is there."""

    day: date = Field(alias="date")  # `date` is the type's name here; constructed as `date=`
    doctor_id: str
    doctor_name: str
    department: str | None  # null for a doctor with no record
    slots: int
    capacity: int
    places: int
    consultations: int
    no_shows: int
    cancelled: dict[CancelReason, int]
    waitlist: WaitlistFiguresOut
    by_tier: dict[Tier, TierFiguresOut]
    wait_minutes: MeasureOut
    consult_minutes: MeasureOut
    first_call_late_minutes: float | None
    sms: int | None


class DailyReportsOut(ResponseModel):
    """GET /reports/daily: the days asked for that are over, by date, then doctor id."""

    days: list[DayReportOut]


# -- the dates asked for -------------------------------------------------------------------------------------------


def report_dates(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """`from` and `to` as asked, or their defaults: the DEFAULT_REPORT_DAYS ending today, or that many from `from`, or
    ending at `to`. VALIDATION_ERROR naming each field out of bounds: a date before today less 2 years or after today
    plus 5 years (checked before any arithmetic, so the calendar's ends cannot overflow it), `to` before `from`, more
    than MAX_REPORT_DAYS days."""
    earliest, latest = years_before(today, REPORT_PAST_YEARS), years_before(today, -FUTURE_YEARS)
    outside = f"must be from {earliest} to {latest}: at most {REPORT_PAST_YEARS} years back and {FUTURE_YEARS} ahead"
    details = [
        {"field": name, "message": outside}
        for name, day in (("from", first), ("to", last))
        if day is not None and not earliest <= day <= latest
    ]
    if details:
        raise invalid(details)
    span = timedelta(days=DEFAULT_REPORT_DAYS - 1)
    if first is None:
        last = last or today
        first = max(last - span, earliest)
    elif last is None:
        last = min(first + span, latest)
    if last < first:
        raise invalid([{"field": "to", "message": "must not be before from"}])
    if (last - first).days >= MAX_REPORT_DAYS:
        raise invalid([{"field": "to", "message": f"must be at most {MAX_REPORT_DAYS} days from `from`, both counted"}])
    return first, last


# -- CSV ------------------------------------------------------------------------------------------------------------


def wants_csv(accept: str | None) -> bool:
    """Whether the `Accept` header prefers `text/csv` to `application/json` (by quality; a tie, `*/*` or no header is
    JSON). Media ranges count for the types they cover (`text/*` for CSV, `application/*` for JSON)."""
    if not accept:
        return False
    best = {"csv": -1.0, "json": -1.0}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        for kind, covering in (
            ("csv", ("text/csv", "text/*", "*/*")),
            ("json", ("application/json", "application/*", "*/*")),
        ):
            if media in covering:
                best[kind] = max(best[kind], quality)
    return best["csv"] > 0 and best["csv"] > best["json"]


HEADS = ("date", "doctorId", "doctorName", "department")  # who and when, before the figures
CSV_COLUMNS: tuple[str, ...] = (*HEADS, *FIGURES)
_PATHS = tuple(tuple(name.split(".")) for name in FIGURES)


def json_row(row: DayRow) -> dict[str, Any]:
    """The contract's DayReport of a stored row: its figures nested by their dotted names, in FIGURES' order."""
    out: dict[str, Any] = {"date": row.day, "doctorId": row.doctor_id, "doctorName": row.doctor_name}
    out["department"] = row.department
    for path, value in zip(_PATHS, row.figures, strict=True):
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return out


def as_json(rows: list[DayRow]) -> str:
    """`{"days": [DayReport]}`, as text."""
    return json.dumps({"days": [json_row(row) for row in rows]}, ensure_ascii=False, separators=(",", ":"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # A name or department a spreadsheet would run as a formula (=, +, -, @) is written with a leading quote.
        return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
    return str(value)  # a number as the JSON writes it (20.0 is 20.0: Python's repr, as json.dumps)


def as_csv(rows: list[DayRow]) -> str:
    """The rows as CSV: a header (CSV_COLUMNS), then one line per row, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(v) for v in (row.day, row.doctor_id, row.doctor_name, row.department, *row.figures)])
    return out.getvalue()


def csv_filename(first: date, last: date) -> str:
    return f"opd-daily-reports-{first.isoformat()}-to-{last.isoformat()}.csv"
