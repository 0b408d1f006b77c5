"""The day is over: the sweeper, told the time after the last slot, writes each doctor's day report, and the admin
reads them (GET /reports/daily). A check holds the report's places, consultations and no-shows to what the replay
itself counted from the answers it was given."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from demo.checks import Check
from demo.client import expect

AFTER_THE_DAY = timedelta(minutes=20)  # the sweeper's next run after the last slot has ended
COUNTED = ("places", "consultations", "noShows")


def day_over(c: Any) -> list[dict[str, Any]]:
    """Run the sweeper as of just after the last slot's end, then read the day's reports as the admin."""
    c.api.sweep(max(s.end for s in c.slots) + AFTER_THE_DAY)
    day = c.day.isoformat()
    answer = c.api.send("GET", f"/reports/daily?from={day}&to={day}", token=c.admin)
    return list(expect(answer, "the day's reports")["days"])


def replay_counts(c: Any) -> dict[str, dict[str, int]]:
    """Per doctor, what the replay's own answers say: a place is a booking that was ever answered with a token, a
    consultation one whose last answer said COMPLETED, a no-show NO_SHOW."""
    counts: dict[str, Counter[str]] = {}
    for slot in c.slots:
        found = counts.setdefault(slot.doctor_id, Counter())
        found["places"] += len(c.log.tokens(slot.slot_id))
        statuses = Counter(c.log.statuses(slot.slot_id).values())
        found["consultations"] += statuses["COMPLETED"]
        found["noShows"] += statuses["NO_SHOW"]
    return {doctor: {k: found[k] for k in COUNTED} for doctor, found in counts.items()}


def report_checks(c: Any, rows: list[dict[str, Any]]) -> Check:
    """One row per doctor of the day, whose places, consultations and no-shows are the replay's."""
    expected = replay_counts(c)
    got = {row["doctorId"]: {k: row[k] for k in COUNTED} for row in rows}
    problems = []
    if set(got) != set(expected):
        problems.append(f"the report has rows for {sorted(got)}, the day had doctors {sorted(expected)}")
    for doctor in sorted(set(got) & set(expected)):
        if got[doctor] != expected[doctor]:
            problems.append(f"{doctor}: the report says {got[doctor]}, the replay counted {expected[doctor]}")
    totals = {k: sum(e[k] for e in expected.values()) for k in COUNTED}
    checked = f"{len(rows)} day reports; the replay counted {totals}"
    return Check("the day's report counts what the replay counted", checked, problems)


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The day's reports as the admin reads them, one line per doctor."""

    def minutes(figure: dict[str, Any] | None) -> str:
        if not figure or figure.get("median") is None:
            return "–"
        return f"{figure['median']}/{figure['p90']}"

    lines = [
        f"{'doctor':<18} {'slots':>5} {'cap':>4} {'places':>6} {'seen':>5} {'no-show':>7} {'wait':>9} "
        f"{'consult':>9} {'late':>5} {'sms':>4}"
    ]
    for row in rows:
        late = row["firstCallLateMinutes"]
        lines.append(
            f"{row['doctorName'][:18]:<18} {row['slots']:>5} {row['capacity']:>4} {row['places']:>6} "
            f"{row['consultations']:>5} {row['noShows']:>7} {minutes(row['waitMinutes']):>9} "
            f"{minutes(row['consultMinutes']):>9} {'–' if late is None else late:>5} "
            f"{'–' if row['sms'] is None else row['sms']:>4}"
        )
    return lines
