"""reports.html in chromium: an admin reads the daily reports as a table and three charts and downloads the same rows
as CSV; a receptionist is told the reports are for admins; dates out of bounds are said in words (contract, "Reports",
"Web pages").

The days: three past days of three doctors of a department of this module's own, played through the service's own
code on the stack's MongoDB (the allocator on a clock the test moves, as tests/integration does: the API lets nobody
book a slot that is over), their no-shows marked by the allocator's sweep as of that evening, then written as day
reports by the sweeper's handler asked for a backfill of those days (`make backfill-reports`'s event), as of now.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from playwright.sync_api import Page, Request, ViewportSize, expect

from devserver.apigw import LambdaContext as LocalContext
from devserver.runner import LocalStack
from opd import runtime
from opd.domain import CancelReason, Capacity, Slot, Source, Status
from opd.service import Allocator
from tests.browser.support import (
    SIZES,
    Clinic,
    document_fits_the_viewport,
    expect_no_serious_axe_violation,
    patient,
    screenshot,
    sign_in,
)
from tests.handlers.support import close_runtime, point_runtime_at

pytestmark = pytest.mark.xdist_group("browser")

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "web" / "vendor" / "chart.umd.min.js"
NPM_COPY = Path(__file__).parent / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
DAYS_BACK = (3, 2, 1)  # the days played: today less 3, 2 and 1
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what the CSV writes with a leading ' (opd.api.reports)
DESKTOP = ViewportSize(width=1440, height=900)  # the screenshot's screen


@dataclass(frozen=True)
class ReportedDays:
    """The day reports the sweeper wrote for this module: `rows` of `doctors` (id -> name) in `department`."""

    department: str
    doctors: dict[str, str]
    first: date
    last: date
    rows: int


class Clock:
    """The service's clock, moved by the test through the days it plays."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=UTC)  # UTC: the local clinic's zone


def play_slot(
    service: Allocator, clock: Clock, slot: Slot, patients: list[tuple[Source, bool]], late: int, step: int
) -> None:
    """Book `patients` (source, comes) two hours before; the first cancels once one is waitlisted (who moves up
    into the place), or after the last; those who come check in from 12 minutes before, 2 minutes apart, and are
    called from `late` minutes after the start, `step` minutes apart, each call completing the one before. Those
    who never come stay BOOKED."""
    clock.now = slot.start - timedelta(hours=2)
    booked = []
    for source, _ in patients:
        booked.append(service.book(slot.slot_id, patient("rep"), source, waitlist=True))
        clock.now += timedelta(minutes=1)
        now_or_never = booked[-1].status is Status.WAITLISTED or len(booked) == len(patients)
        if now_or_never and booked[0].status is Status.BOOKED:
            booked[0] = service.cancel(booked[0].booking_id, by="patient", reason=CancelReason.PATIENT)
    coming = [b for b, (_, comes) in zip(booked[1:], patients[1:], strict=True) if comes]
    for n, booking in enumerate(coming):
        clock.now = slot.start - timedelta(minutes=12 - 2 * n)
        service.check_in(booking.booking_id)
    for n in range(len(coming) + 1):  # one call more: it completes the last patient
        clock.now = slot.start + timedelta(minutes=late + n * step)
        service.call_next(slot.slot_id, by="desk-1")


def play_day(service: Allocator, clock: Clock, day: date, doctor_id: str, n: int, back: int) -> None:
    """Two slots of the doctor (the `n`th) on `day`: 09:00 with a full standard tier and a waitlist, 10:00 smaller.
    Waits and lateness grow with `n` and `back`; some patients do not come."""
    clock.now = at(day, "06:00")
    first = service.create_slot(doctor_id, at(day, "09:00"), at(day, "10:00"), Capacity(3, 1, 1))
    second = service.create_slot(doctor_id, at(day, "10:00"), at(day, "11:00"), Capacity(4, 1, 1))
    odd = (n + back) % 2 == 1
    walk_in, paid, follow_up, emergency = Source.WALKIN, Source.PAID, Source.FOLLOWUP, Source.EMERGENCY
    # The 4th walk-in is waitlisted (3 standard places), then moves up when the 1st cancels.
    play_slot(
        service,
        clock,
        first,
        [(walk_in, True), (walk_in, True), (walk_in, back != 2), (walk_in, True), (paid, not odd), (emergency, True)],
        late=1 + 2 * n + back,
        step=5 + 2 * n + back % 2,
    )
    play_slot(
        service,
        clock,
        second,
        [(walk_in, True), (walk_in, True), (follow_up, True), (walk_in, odd)],
        late=n + back,
        step=4 + 3 * n,
    )


def sweeper_backfill(first: date, last: date) -> dict[str, Any]:
    """The sweeper's handler asked for the day reports of first..last, as `make backfill-reports` asks it, now."""
    from functions.sweep_no_shows import app as sweeper  # its settings are read at import: after point_runtime_at

    context = cast(LambdaContext, LocalContext("SweepNoShowsFunction", memory_limit_in_mb=512, timeout_s=60))
    event = {"now": datetime.now(UTC).isoformat(), "backfill": {"from": str(first), "to": str(last)}}
    result: dict[str, Any] = sweeper.lambda_handler(event, context)
    return result


@pytest.fixture(scope="module")
def reported(web_stack: LocalStack) -> Iterator[ReportedDays]:
    tag = uuid.uuid4().hex[:6]
    department = f"Reports {tag}"
    doctors = {
        f"dr-rep-{tag}-a": "Dr Asha Rao",
        f"dr-rep-{tag}-b": "Dr Vikram Iyer",
        f"dr-rep-{tag}-c": "@Locum Dr Sen",
    }
    clinic = Clinic(web_stack)
    for n, (doctor_id, name) in enumerate(doctors.items()):
        answer = clinic.call(
            "PUT", f"/doctors/{doctor_id}", "admin", {"name": name, "department": department, "room": f"{n + 4}A"}
        )
        assert answer.status_code == 200, answer.text
    today = datetime.now(UTC).date()
    played = [
        (today - timedelta(days=back), doctor_id, n, back) for back in DAYS_BACK for n, doctor_id in enumerate(doctors)
    ]
    played = [p for p in played if p[2] < 2 or p[3] == 1]  # the locum came on the last day only
    with pytest.MonkeyPatch.context() as patch:
        point_runtime_at(patch, web_stack.redis_url, web_stack.mongodb_uri, web_stack.database)
        # The lock's waits are metrics (opd.runtime), flushed every 100 outside a handler: they need a namespace.
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OPD")
        try:
            service = runtime.allocator()
            clock = Clock(datetime.now(UTC))
            service.clock = clock
            for day, doctor_id, n, back in played:
                play_day(service, clock, day, doctor_id, n, back)
            for back in DAYS_BACK:  # that evening's sweep: those who never came are no-shows
                service.sweep_no_shows(now=at(today - timedelta(days=back), "20:00"))
            clock.now = datetime.now(UTC)
            first, last = today - timedelta(days=max(DAYS_BACK)), today - timedelta(days=min(DAYS_BACK))
            done = sweeper_backfill(first, last)
            assert done["finished"], done
            assert done["written"] >= len(played), done  # the stack's other tests may have days there too
        finally:
            close_runtime()
    yield ReportedDays(department, doctors, first, last, len(played))


def api_rows(clinic: Clinic, first: date, last: date, department: str) -> list[dict[str, Any]]:
    query = f"/reports/daily?from={first}&to={last}&department={department.replace(' ', '%20')}"
    answer = clinic.call("GET", query, "admin")
    assert answer.status_code == 200, answer.text
    days: list[dict[str, Any]] = answer.json()["days"]
    return days


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON row's figures by their dotted names, as the CSV's header names them."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def as_cell(value: Any) -> str:
    """A JSON value as the CSV writes it: null empty, a text that a spreadsheet would run as a formula after a '."""
    if value is None:
        return ""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    return str(value)


def as_shown(value: Any, name: str) -> str:
    """A figure as the table shows it: minutes with one decimal, counts as they are, null as "–" (not measured)."""
    if value is None:
        return "–not measured"
    return f"{value:.1f}" if "Minutes" in name else str(value)


def show_department(page: Page, reported: ReportedDays) -> None:
    page.fill("#from", str(reported.first))
    page.fill("#to", str(reported.last))
    page.fill("#department", reported.department)
    page.click("#show")
    expect(page.locator("#days-body tr[data-doctor-id]")).to_have_count(reported.rows)
    expect(page.locator("body")).to_have_attribute("data-charts", "drawn")


def drawn_pixels(page: Page, canvas: str) -> int:
    """How many pixels of the canvas are not blank: a chart drawn has its axes, bars and lines."""
    count = page.evaluate(
        """(id) => {
            const c = document.getElementById(id);
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n += 1;
            return n;
        }""",
        canvas,
    )
    return int(count)


def test_an_admin_sees_the_days_in_a_table_and_three_charts_and_downloads_the_same_rows_as_csv(
    page: Page, clinic: Clinic, reported: ReportedDays, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, "admin", "admin-reports")
    page.click("#reports-link")  # the desk's header links an admin to the reports
    expect(page).to_have_url(re.compile(r"/reports\.html"))
    expect(page.locator("#whoami")).to_have_text("admin-reports (admin)")  # the desk's session
    expect(page.locator("#main")).to_be_visible()
    show_department(page, reported)

    rows = api_rows(clinic, reported.first, reported.last, reported.department)
    assert len(rows) == reported.rows and {r["doctorId"] for r in rows} == set(reported.doctors)
    # The table: one row per JSON row, each figure as the JSON has it.
    for row in rows:
        tr = page.locator(f'#days-body tr[data-date="{row["date"]}"][data-doctor-id="{row["doctorId"]}"]')
        expect(tr.locator("td.doctor")).to_contain_text(row["doctorName"])
        for name, value in flat(row).items():
            if name.startswith(("cancelled.", "byTier.")) or name in ("date", "doctorId", "doctorName", "department"):
                continue
            expect(tr.locator(f'td[data-figure="{name}"]')).to_have_text(as_shown(value, name))
        expect(tr.locator('td[data-figure="cancelled"]')).to_contain_text(str(sum(row["cancelled"].values())))
    assert any(r["waitMinutes"]["median"] for r in rows) and any(r["noShows"] for r in rows)
    assert all(r["sms"] is None for r in rows)  # no SMS counted on this stack: "not measured", not 0

    # Three charts, drawn, with the series the rows give: a median and a p90 line per doctor.
    for canvas, datasets in (("waits-chart", 2 * len(reported.doctors)), ("tiers-chart", 2), ("use-chart", 2)):
        assert page.evaluate(f"Chart.getChart('{canvas}').data.datasets.length") == datasets
        assert drawn_pixels(page, canvas) > 5000, canvas
    days = sorted({r["date"] for r in rows})
    assert page.evaluate("Chart.getChart('use-chart').data.datasets[0].data") == [
        sum(r["capacity"] for r in rows if r["date"] == d) for d in days
    ]
    no_shows = [sum(r["byTier"][t]["noShows"] for r in rows) for t in ("STANDARD", "PREMIUM", "CRITICAL")]
    assert page.evaluate("Chart.getChart('tiers-chart').data.datasets[1].data") == no_shows
    expect(page.locator("#tiers-body tr")).to_have_count(3)
    expect(page.locator("#use-body tr")).to_have_count(len(days))

    # The CSV: the same query, saved as reports-<from>-<to>.csv, its rows the JSON's (formula-like text after a ').
    with page.expect_download() as downloading:
        page.click("#download-csv")
    download = downloading.value
    assert download.suggested_filename == f"reports-{reported.first}-{reported.last}.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [dict(r) for r in table] == [{k: as_cell(v) for k, v in flat(row).items()} for row in rows]
    assert any(r["doctorName"].startswith("'@") for r in table)  # the locum's name, escaped
    expect(page.locator("#status")).to_contain_text(
        f"Saved reports-{reported.first}-{reported.last}.csv: {len(rows)} day reports"
    )

    expect_no_serious_axe_violation(page, "the reports page with a week of days")
    page.locator("#waits-figure details summary").click()  # the numbers under a chart, opened
    expect(page.locator("#waits-body tr")).to_have_count(reported.rows)
    expect_no_serious_axe_violation(page, "the reports page with a chart's numbers open")
    page.locator("#waits-figure details summary").click()
    screenshot(page, tmp_path_factory, "reports-1440")


def test_a_receptionist_is_told_the_reports_are_for_admins_and_nothing_is_asked(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/reports/daily" in request.url else None)
    sign_in(page, "reception", "desk-reports")
    expect(page.locator("#reports-link")).to_be_hidden()  # the desk links admins only
    page.goto("/reports.html")
    expect(page.locator("#admins-only")).to_be_visible()
    expect(page.locator("#admins-only-heading")).to_have_text("Reports are for admins only")
    expect(page.locator("#admins-only-text")).to_contain_text("signed in as desk-reports (reception)")
    expect(page.locator("#main")).to_be_hidden()
    expect_no_serious_axe_violation(page, "the reports page refusing a receptionist")
    assert asked == []
    screenshot(page, tmp_path_factory, "reports-reception")


def test_the_api_refusing_a_token_says_admins_only(page: Page, clinic: Clinic) -> None:
    """A session whose role says admin but whose token is a receptionist's: the API's 403 is said the same way."""
    token = clinic.stack.token("reception", "desk-posing")
    page.goto("/desk.html")
    page.evaluate(
        "(t) => sessionStorage.setItem('opd.session', JSON.stringify({token: t, role: 'admin', user: 'desk-posing'}))",
        token,
    )
    page.goto("/reports.html")
    expect(page.locator("#admins-only")).to_be_visible()
    expect(page.locator("#admins-only-text")).to_contain_text("The service refused the reports to desk-posing")
    expect(page.locator("#main")).to_be_hidden()


def test_dates_out_of_bounds_are_said_in_words_before_and_after_asking(page: Page) -> None:
    asked: list[Request] = []
    page.on("request", lambda request: asked.append(request) if "/reports/daily" in request.url else None)
    page.goto("/reports.html")
    # Signed in on the page itself, with the keyboard (the local form, as the desk's).
    page.locator("#signin-user").fill("admin-dates")
    page.keyboard.press("Enter")
    expect(page.locator("#whoami")).to_have_text("admin-dates (admin)")
    expect(page.locator("#status")).to_contain_text("day report")  # the default week, asked at once
    today = datetime.now(UTC).date()
    assert page.input_value("#to") == str(today) and page.input_value("#from") == str(today - timedelta(days=6))
    count = len(asked)

    page.fill("#from", str(today - timedelta(days=100)))
    page.locator("#to").press("Enter")
    expect(page.locator("#messages")).to_contain_text("to: at most 92 days from From, both counted (this is 101 days)")
    expect(page.locator("#to")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#to")).to_be_focused()
    page.fill("#to", str(today - timedelta(days=101)))
    page.click("#download-csv")
    expect(page.locator("#messages")).to_contain_text("to: must not be before From")
    assert len(asked) == count  # nothing was sent

    three_years_back = today - timedelta(days=3 * 366)  # the service's bound: 2 years back
    page.fill("#from", str(three_years_back))
    page.fill("#to", str(three_years_back + timedelta(days=3)))
    page.click("#show")
    expect(page.locator("#messages li[data-field=from]")).to_contain_text("from: must be from")
    expect(page.locator("#from")).to_have_attribute("aria-invalid", "true")
    expect_no_serious_axe_violation(page, "the reports page with a date refused")


def test_the_reports_fit_a_phone_and_the_table_scrolls_in_its_own_box(
    page: Page, reported: ReportedDays, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page.set_viewport_size(SIZES["phone"])
    sign_in(page, "admin", "admin-phone")
    page.goto("/reports.html")
    show_department(page, reported)
    scroll_width, viewport = document_fits_the_viewport(page)
    assert scroll_width <= viewport, f"the page is {scroll_width} px wide on a {viewport} px phone"
    box = page.locator("#days").locator("xpath=..")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")  # the table scrolls, inside its region
    box.focus()
    page.keyboard.press("ArrowRight")  # a focusable region: the keyboard scrolls it
    page.wait_for_function("() => document.getElementById('days').parentElement.scrollLeft > 0")
    expect_no_serious_axe_violation(page, "the reports page on a phone")
    screenshot(page, tmp_path_factory, "reports-phone")


def test_the_vendored_chart_library_is_the_npm_packages_file_unchanged() -> None:
    """web/vendor/chart.umd.min.js is chart.js's dist/chart.umd.min.js of the version tests/browser pins
    (package-lock.json, with its integrity hash), byte for byte; web/README.md names that version."""
    if not NPM_COPY.is_file():
        pytest.fail(f"{NPM_COPY} is missing: `make axe` installs it (npm ci in tests/browser)", pytrace=False)
    assert VENDORED.read_bytes() == NPM_COPY.read_bytes()
    version = re.search(r'"version":\s*"([^"]+)"', (NPM_COPY.parents[1] / "package.json").read_text())
    assert version is not None
    assert f"Chart.js {version.group(1)}" in (REPO / "web" / "README.md").read_text(encoding="utf-8")
    assert (VENDORED.parent / "chart.js.LICENSE").read_text().startswith(f"Chart.js {version.group(1)} ")


def test_without_the_chart_library_the_tables_still_show(page: Page, reported: ReportedDays) -> None:
    """The library is a script of its own: if it does not load, the page says so and keeps the tables."""
    page.route("**/vendor/chart.umd.min.js", lambda route: route.fulfill(status=404, body=""))
    sign_in(page, "admin", "admin-no-charts")
    page.goto("/reports.html")
    page.fill("#from", str(reported.first))
    page.fill("#to", str(reported.last))
    page.fill("#department", reported.department)
    page.click("#show")
    expect(page.locator("body")).to_have_attribute("data-charts", "unavailable")
    expect(page.locator("#charts-note")).to_have_text(
        "The charts could not be loaded: their numbers are in the tables under each one."
    )
    expect(page.locator("#days-body tr[data-doctor-id]")).to_have_count(reported.rows)
    expect(page.locator("#use-body tr")).to_have_count(len(DAYS_BACK))


def test_the_page_and_the_chart_library_are_served_under_the_pages_policy(clinic: Clinic) -> None:
    for name in ("reports.html", "reports.js", "reports.css", "vendor/chart.umd.min.js"):
        answer = clinic.session.get(f"{clinic.stack.url}/{name}", timeout=30)
        assert answer.status_code == 200, name
        assert answer.content == (REPO / "web" / name).read_bytes()
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy  # no inline, no eval
    assert clinic.session.get(f"{clinic.stack.url}/vendor/chart.js.LICENSE", timeout=30).status_code == 404
