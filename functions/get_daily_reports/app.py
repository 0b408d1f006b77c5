"""GET /reports/daily?from=&to=&doctorId=&department= (admin): one row per doctor and clinic date, as JSON or CSV.

Each row was made once, when the sweeper found its day over (`opd.service.daily`), and never changes after; a day not
over yet has none. So the answer is one range read of `day_reports` on an index that gives its order (date, then doctor
id): its cost follows the rows asked for (at most 92 days of every doctor), never the slots behind them. `from` and `to`
are clinic dates, both included: by default the 7 days ending today (today's row appears once its last slot has ended
and the sweeper has run). `Accept: text/csv` answers the same rows as CSV, one column per figure (`opd.api.reports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import content_types

from opd import domain
from opd.api.auth import Role
from opd.api.models import Query, RequestDate
from opd.api.openapi import BEARER, error_responses
from opd.api.people import DepartmentQuery
from opd.api.reports import CSV_TYPE, DailyReportsOut, as_csv, as_json, csv_filename, report_dates, wants_csv
from opd.api.resolver import Response, allocator, caller, make_app, make_handler
from opd.domain import ID_PATTERN
from opd.errors import DependencyUnavailable, Forbidden, Unauthorized, ValidationFailed

if TYPE_CHECKING:
    from opd.dayreports import DayReportStore

app = make_app()


def day_reports() -> DayReportStore:
    # pymongo loads with the first request, as the allocator's does (opd.api.resolver).
    from opd import runtime

    return runtime.day_reports()


@app.get(
    "/reports/daily",
    summary="The daily reports: waits, consultations, no-shows and capacity per doctor and clinic date (admin)",
    tags=["reports"],
    security=BEARER,
    responses={
        200: {
            "description": "OK: one DayReport per doctor and clinic date from `from` to `to` whose day is over, by "
            "date then doctor id (none: an empty list). With `Accept: text/csv`, the same rows as CSV "
            "(`text/csv; charset=utf-8`, a header row, one column per figure, nested ones dotted as "
            "`waitMinutes.median`, a null an empty cell) with a `Content-Disposition` file name",
            "content": {
                "application/json": {"model": DailyReportsOut},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **error_responses(ValidationFailed, Unauthorized, Forbidden, DependencyUnavailable),
    },
)
def get_daily_reports(
    first: Annotated[
        RequestDate | None,
        Query(
            alias="from",
            description="the first clinic date, YYYY-MM-DD, from today less 2 years; default 6 days before `to`",
        ),
    ] = None,
    last: Annotated[
        RequestDate | None,
        Query(
            alias="to",
            description="the last clinic date, YYYY-MM-DD; at most 92 days with `from`, both counted; "
            "default today, or 6 days after `from`",
        ),
    ] = None,
    doctorId: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="one doctor's days only")] = None,
    department: DepartmentQuery = None,
) -> Response[DailyReportsOut | str]:
    caller(app).require(Role.ADMIN)
    service = allocator()
    first, last = report_dates(first, last, service.clock().astimezone(service.settings.clinic_zone).date())
    wanted = None if department is None else domain.department_of(department)
    rows = day_reports().days(first, last, doctorId, wanted)
    if wants_csv(app.current_event.headers.get("accept")):
        disposition = f'attachment; filename="{csv_filename(first, last)}"'
        headers = {"Content-Disposition": disposition, "Vary": "Accept"}
        return Response(200, content_type=CSV_TYPE, body=as_csv(rows), headers=headers)
    # The rows as stored, made into the contract's JSON without a model (opd.api.reports says why).
    return Response(200, content_type=content_types.APPLICATION_JSON, body=as_json(rows), headers={"Vary": "Accept"})


lambda_handler = make_handler(app)
