"""The functions' own metrics beside the day's counts (issue 24): what the alarms and the dashboard would read in AWS.

Each Lambda environment of the local stack prints its metrics as AWS would (Powertools' EMF lines), and the runner
sums them for `GET /_local/metrics` (devserver/metrics.py). The demo counts the same things from its own answers;
the invariant is that both say the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from demo.checks import Check, Published
from demo.client import OpdClient, expect
from demo.replay import Clinic

WAIT_S = 10.0  # a notifier's line is written as its invocation ends, a moment after its SMS is on record


@dataclass(frozen=True)
class Tally:
    metric: str  # the metric's name, or name[dimension=value] for one of its splits
    counted: int  # what the demo counted from its own answers
    what: str  # in the demo's words


def day_tallies(clinic: Clinic, published: Published) -> list[Tally]:
    """The day's own counts of what the service counts in metrics, from its answers and the local SNS."""
    booked = {e.booking_id for e in clinic.log.events if e.action == "book" and e.ok and e.booking_status == "BOOKED"}
    waiting = {
        e.booking_id for e in clinic.log.events if e.action == "book" and e.ok and e.booking_status == "WAITLISTED"
    }
    tallies = [
        Tally("Bookings", len(booked), "bookings answered BOOKED (POST /bookings, each once however often repeated)"),
        Tally("Waitlisted", len(waiting), "bookings answered WAITLISTED"),
        Tally("SmsSent", len(published.sms), "SMS of events the local SNS sent (GET /_local/sms)"),
        Tally("OtpCodesSent", len(published.codes), "sign-in codes the local SNS sent"),
    ]
    if clinic.counter is not None:
        figures = clinic.counter.figures()
        tallies += [
            Tally("CounterTokens[source=DESK]", int(figures["desk"]), "counter tokens the desk gave"),
            Tally("CounterTokens[source=ABDM]", int(figures["scanAndShare"]), "counter tokens of Scan & Share"),
            Tally("ScanAndShares", len(clinic.counter.shares), "profile shares the fake ABDM gateway posted"),
        ]
    return tallies


def value_of(emitted: dict[str, Any], metric: str) -> float:
    """A metric's sum, or with `name[dimension=value]` that split's."""
    name, _, split = metric.partition("[")
    entry = emitted.get(name, {})
    if not split:
        return float(entry.get("sum", 0))
    dimension, _, value = split.rstrip("]").partition("=")
    return float(entry.get("by", {}).get(dimension, {}).get(value, 0))


def emitted_metrics(api: OpdClient, tallies: list[Tally]) -> dict[str, Any]:
    """GET /_local/metrics, once it has caught up with the day's counts (or WAIT_S has passed)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        emitted: dict[str, Any] = expect(api.send("GET", "/_local/metrics"), "metrics")["metrics"]
        behind = [t for t in tallies if value_of(emitted, t.metric) < t.counted]
        if not behind or time.monotonic() > deadline:
            return emitted
        time.sleep(0.25)


def metrics_check(tallies: list[Tally], emitted: dict[str, Any]) -> Check:
    problems = [
        f"{t.metric}: the functions emitted {value_of(emitted, t.metric):g}, the day counted {t.counted} ({t.what})"
        for t in tallies
        if value_of(emitted, t.metric) != t.counted
    ]
    checked = f"{len(tallies)} metrics (GET /_local/metrics) against the day's answers and SMS"
    return Check("the functions' metrics equal the day's own counts", checked, problems)


# Shown beside the tallies, not checked: their own counts are not the demo's to make exactly (each 429 retried, the
# relay's second publications, the sweeps of the day's end).
SHOWN = (
    ("Rejections", "refusals, every code, every route"),
    ("TooManyRequests", "429 answers"),
    ("EventsPublished", "events put on the bus (at least once)"),
    ("NoShowsMarked", "bookings the sweeper marked NO_SHOW"),
    ("SweeperHeartbeat", "sweeps run"),
    ("ColdStart", "cold starts: each function's first invocation in an environment"),
)


def metrics_lines(tallies: list[Tally], emitted: dict[str, Any]) -> list[str]:
    """The report's lines: each metric the functions emitted beside what the day counted."""
    lines = [
        f"{t.metric:<28} {value_of(emitted, t.metric):>6g}  {'=' if value_of(emitted, t.metric) == t.counted else '≠'}"
        f" {t.counted:<6} {t.what}"
        for t in tallies
    ]
    lines += [f"{name:<28} {value_of(emitted, name):>6g}    {what}" for name, what in SHOWN]
    return lines


def metrics_figures(tallies: list[Tally], emitted: dict[str, Any]) -> dict[str, Any]:
    """For report.json: the tallies, and every metric emitted as the runner summed it."""
    return {"tallies": [{"metric": t.metric, "counted": t.counted} for t in tallies], "emitted": emitted}
