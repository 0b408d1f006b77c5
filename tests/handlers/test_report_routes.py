"""GET /reports/daily (contract, "Reports"): admin only, its dates' bounds, the rows as JSON and the same rows as CSV,
one doctor's or one department's, and a day not over yet absent; driven by the events/ sample."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from opd import domain, runtime
from opd.api.reports import DailyReportsOut
from opd.domain import Capacity, Doctor, Slot, Source
from opd.domain.daily import day_report
from opd.service import Allocator, new_booking_id, new_slot_id
from tests.handlers.support import Answer, call, context, event, handler_module

TODAY = datetime.now(UTC).date()  # the handlers' clock is the real one; the clinic's zone is UTC here


def reports(query: dict[str, str] | None = None, role: str = "admin") -> Answer:
    answer = call("get_daily_reports", event("get_daily_reports", query=query, role=role))
    if answer.status == 200:  # the rows are assembled without the model: every answer is checked against it
        assert DailyReportsOut.model_validate(answer.body).as_json() == answer.body
    return answer


def raw(query: dict[str, str] | None = None, accept: str = "text/csv") -> Answer:
    """The answer as the handler gives it, its body as text (`call` reads JSON)."""
    ev = event("get_daily_reports", query=query, role="admin", headers={"Accept": accept})
    result = handler_module("get_daily_reports").lambda_handler(ev, context())
    return Answer(result["statusCode"], result.get("headers") or {}, result["body"])


def csv_reports(query: dict[str, str] | None = None) -> tuple[Answer, list[dict[str, str]]]:
    """The CSV answer and its rows."""
    answer = raw(query)
    return answer, list(csv.DictReader(io.StringIO(answer.body, newline="")))


def booked_slot(doctor_id: str, start: datetime, capacity: Capacity | None = None) -> Slot:
    """A slot of `doctor_id` with a patient seen (checked in 5 minutes early, called at start + 2, seen 10 minutes)
    and one who never came, as stored once its day was swept."""
    slot = domain.new_slot(
        new_slot_id(), doctor_id, start, start + timedelta(minutes=30), capacity or Capacity(), start
    )
    earlier = start - timedelta(hours=1)
    slot, seen = domain.book(slot, new_booking_id(slot.slot_id), "p-seen", Source.WALKIN, earlier, 20)
    slot, _ = domain.book(slot, new_booking_id(slot.slot_id), "p-absent", Source.PAID, earlier, 20)
    slot, _ = domain.transition(slot, seen, domain.Status.CHECKED_IN, start - timedelta(minutes=5))
    for minutes in (2, 12):  # called 2 minutes late, completed by the next call 10 minutes on
        called, _, _ = domain.call_next(slot, start + timedelta(minutes=minutes), "desk")
        assert called is not None
        slot = called
    slot, _ = domain.mark_no_shows(slot, start + timedelta(minutes=15), 15)
    return slot


def report_row(doctor: Doctor | None, doctor_id: str, day: date, sms: int | None = None) -> None:
    """The day's row as the sweeper writes it, from a slot of that day (not stored: the report reads rows only)."""
    slot = booked_slot(doctor_id, datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9))
    runtime.day_reports().insert([day_report(day, doctor_id, [slot], doctor=doctor, sms=sms)], datetime.now(UTC))


@pytest.fixture
def three_doctors() -> list[Doctor]:
    """Rao (ENT) and Iyer (Cardiology), recorded; dr-unrecorded has rows but no record. Rows for the last 10 days."""
    doctors = [Doctor.of("dr-rao", "Dr Rao", "ENT"), Doctor.of("dr-iyer", "=Dr Iyer", "Cardiology")]
    for doctor in doctors:
        runtime.doctor_store().record(doctor)
    for back in range(10):
        day = TODAY - timedelta(days=back)
        for doctor in doctors:
            report_row(doctor, doctor.doctor_id, day, sms=back)
        report_row(None, "dr-unrecorded", day)
    return doctors


# -- who and what may be asked ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("reception", 403), ("patient", 403), (None, 401)])
def test_only_an_admin_reads_the_reports(three_doctors: list[Doctor], role: str | None, status: int) -> None:
    answer = call("get_daily_reports", event("get_daily_reports", query=None, role=role))
    assert answer.status == status, answer.body
    if status != 200:
        assert answer.code == {401: "UNAUTHORIZED", 403: "FORBIDDEN"}[status]


def test_the_sample_asks_for_the_sample_doctors_days() -> None:
    sample = event("get_daily_reports")
    assert (sample["routeKey"], sample["rawPath"]) == ("GET /reports/daily", "/reports/daily")
    assert sample["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] == "[admin]"
    answer = call("get_daily_reports")
    assert (answer.status, answer.body) == (200, {"days": []})
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_default_is_the_7_days_ending_today(three_doctors: list[Doctor]) -> None:
    days = reports().body["days"]
    assert sorted({row["date"] for row in days}) == [str(TODAY - timedelta(days=n)) for n in range(6, -1, -1)]
    # By date, then doctor id.
    assert [(row["date"], row["doctorId"]) for row in days] == sorted((row["date"], row["doctorId"]) for row in days)
    assert len(days) == 7 * 3
    only_from = reports({"from": str(TODAY - timedelta(days=9))}).body["days"]
    assert {row["date"] for row in only_from} == {str(TODAY - timedelta(days=n)) for n in range(3, 10)}
    only_to = reports({"to": str(TODAY - timedelta(days=8))}).body["days"]
    assert {row["date"] for row in only_to} == {str(TODAY - timedelta(days=n)) for n in range(8, 10)}


def two_years_back() -> date:
    try:
        return TODAY.replace(year=TODAY.year - 2)
    except ValueError:
        return TODAY.replace(year=TODAY.year - 2, day=28)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": str(two_years_back() - timedelta(days=1))}, "from"),
        ({"from": "0001-01-01"}, "from"),
        ({"to": "0001-01-01"}, "to"),  # no default `from` is worked out from it
        ({"from": "9999-12-31"}, "from"),
        ({"to": str(TODAY.replace(year=TODAY.year + 6))}, "to"),
        ({"from": str(TODAY - timedelta(days=92)), "to": str(TODAY)}, "to"),  # 93 days
        ({"from": str(TODAY), "to": str(TODAY - timedelta(days=1))}, "to"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"doctorId": "dr rao"}, "doctorId"),
        ({"department": "x" * 61}, "department"),
        ({"department": "   "}, "department"),
    ],
)
def test_out_of_bounds_is_a_validation_error_naming_the_field(query: dict[str, str], field: str) -> None:
    answer = reports(query)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == [field]


def test_92_days_and_two_years_back_are_within_bounds(three_doctors: list[Doctor]) -> None:
    answer = reports({"from": str(TODAY - timedelta(days=91)), "to": str(TODAY)})
    assert answer.status == 200 and len(answer.body["days"]) == 10 * 3
    oldest = reports({"from": str(two_years_back()), "to": str(two_years_back() + timedelta(days=91))})
    assert (oldest.status, oldest.body) == (200, {"days": []})


# -- the rows ------------------------------------------------------------------------------------------------------


def test_a_row_is_the_contracts_day_report(three_doctors: list[Doctor]) -> None:
    [row] = reports({"from": str(TODAY), "to": str(TODAY), "doctorId": "dr-rao"}).body["days"]
    assert row == {
        "date": str(TODAY),
        "doctorId": "dr-rao",
        "doctorName": "Dr Rao",
        "department": "ENT",
        "slots": 1,
        "capacity": 15,
        "places": 2,
        "consultations": 1,
        "noShows": 1,
        "cancelled": {"PATIENT": 0, "STAFF": 0, "RESCHEDULED": 0, "DOCTOR_UNAVAILABLE": 0, "WAITLIST_EXPIRED": 0},
        "waitlist": {"joined": 0, "promoted": 0, "expired": 0},
        "byTier": {
            "STANDARD": {"places": 1, "noShows": 0},
            "PREMIUM": {"places": 1, "noShows": 1},
            "CRITICAL": {"places": 0, "noShows": 0},
        },
        "waitMinutes": {"median": 7.0, "p90": 7.0},
        "consultMinutes": {"median": 10.0, "p90": 10.0},
        "firstCallLateMinutes": 2.0,
        "sms": 0,
    }
    [unrecorded] = reports({"from": str(TODAY), "to": str(TODAY), "doctorId": "dr-unrecorded"}).body["days"]
    assert (unrecorded["doctorName"], unrecorded["department"], unrecorded["sms"]) == ("dr-unrecorded", None, None)


def test_filters_by_doctor_and_by_department(three_doctors: list[Doctor]) -> None:
    week = {"from": str(TODAY - timedelta(days=6)), "to": str(TODAY)}
    rao = reports({**week, "doctorId": "dr-rao"}).body["days"]
    assert {row["doctorId"] for row in rao} == {"dr-rao"} and len(rao) == 7
    cardiology = reports({**week, "department": " Cardiology "}).body["days"]  # tidied as the records are
    assert {(row["doctorId"], row["department"]) for row in cardiology} == {("dr-iyer", "Cardiology")}
    assert len(cardiology) == 7
    assert reports({**week, "department": "ENT", "doctorId": "dr-iyer"}).body == {"days": []}
    assert reports({**week, "doctorId": "dr-nobody"}).body == {"days": []}


def cell(value: Any) -> str:
    """A JSON value as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return f"'{value}"
    return str(value)


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = cell(value)
    return out


def test_csv_has_the_same_rows_as_json(three_doctors: list[Doctor]) -> None:
    query = {"from": str(TODAY - timedelta(days=3)), "to": str(TODAY)}
    as_json = reports(query).body["days"]
    answer, as_csv = csv_reports(query)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = f'attachment; filename="opd-daily-reports-{query["from"]}-to-{query["to"]}.csv"'
    assert answer.headers["Content-Disposition"] == disposition
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Vary"] == "Accept"
    assert len(as_csv) == len(as_json) == 4 * 3
    assert as_csv == [flat(row) for row in as_json]  # every row, column by column, in the same order
    header = answer.body.split("\r\n", 1)[0].split(",")
    assert header[:9] == [
        "date",
        "doctorId",
        "doctorName",
        "department",
        "slots",
        "capacity",
        "places",
        "consultations",
        "noShows",
    ]
    assert {"cancelled.PATIENT", "waitlist.joined", "byTier.STANDARD.places", "byTier.CRITICAL.noShows"} <= set(header)
    assert {"waitMinutes.median", "waitMinutes.p90", "consultMinutes.p90", "firstCallLateMinutes", "sms"} <= set(header)
    # A name a spreadsheet would run as a formula is written as text.
    assert {row["doctorName"] for row in as_csv if row["doctorId"] == "dr-iyer"} == {"'=Dr Iyer"}


def test_csv_without_rows_is_its_header() -> None:
    answer, rows = csv_reports({"from": str(TODAY), "to": str(TODAY)})
    assert answer.status == 200 and rows == []
    assert answer.body.startswith("date,doctorId,doctorName,department,") and answer.body.count("\r\n") == 1


@pytest.mark.parametrize(
    ("accept", "is_csv"),
    [
        ("text/csv", True),
        ("text/csv;q=0.9, application/json;q=0.5", True),
        ("application/json, text/csv;q=0.5", False),
        ("*/*", False),
        ("text/*", True),
        ("TEXT/CSV", True),
        ("text/csv;q=0", False),
        ("image/png", False),
    ],
)
def test_accept_chooses_csv_only_when_preferred(accept: str, is_csv: bool) -> None:
    answer = raw(accept=accept)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv" if is_csv else "application/json")


def test_a_day_not_over_yet_is_absent_and_appears_once_it_is(allocator: Allocator, doctor_id: str) -> None:
    tomorrow = TODAY + timedelta(days=1)
    nine = datetime.combine(tomorrow, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    allocator.create_slot(doctor_id, nine, nine + timedelta(minutes=30))
    allocator.create_slot(doctor_id, nine + timedelta(hours=1), nine + timedelta(hours=1, minutes=30))
    query = {"from": str(tomorrow), "to": str(tomorrow), "doctorId": doctor_id}

    early = runtime.day_reporter().finish_days(nine + timedelta(minutes=45))  # the first slot ended, not the second
    assert (early.written, early.pending) == (0, 1)
    assert reports(query).body == {"days": []}
    done = runtime.day_reporter().finish_days(nine + timedelta(hours=1, minutes=30))  # the last slot's end
    assert (done.written, done.pending) == (1, 0)
    [row] = reports(query).body["days"]
    assert (row["slots"], row["capacity"], row["places"], row["waitMinutes"]) == (
        2,
        30,
        0,
        {"median": None, "p90": None},
    )
