"""The scheduled sweeper's handler against real Redis and MongoDB-wire servers, built by opd.runtime from env."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from devserver.apigw import LambdaContext as LocalContext
from functions.sweep_no_shows import app
from opd import domain, runtime
from opd.domain import Capacity, Slot, Source, Status
from opd.service import Allocator, new_booking_id, new_slot_id

EVENT_FILE = Path(__file__).resolve().parents[2] / "events" / "sweep_no_shows.json"
GRACE = timedelta(minutes=15)  # NO_SHOW_GRACE_MINUTES, set below
NO_MOVES = {"movesFinished": 0, "movesAbandoned": 0, "counterTokensExpired": 0, "onSharesResent": 0}


class ClockedContext(LocalContext):
    """The runner's context object, with the remaining time given by `remaining_ms`."""

    def __init__(self, remaining_ms: Callable[[], int]) -> None:
        super().__init__("SweepNoShowsFunction", memory_limit_in_mb=512, timeout_s=60)
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms()


def sweep(event: dict[str, Any], context: LocalContext | None = None) -> dict[str, Any]:
    context = context or LocalContext("SweepNoShowsFunction", memory_limit_in_mb=512, timeout_s=60)
    result: dict[str, Any] = app.lambda_handler(event, cast(LambdaContext, context))
    return result


def as_of(at: datetime) -> dict[str, Any]:
    """The local runner's event: sweep as if the clock read `at`."""
    return {"now": at.isoformat()}


@pytest.fixture
def runtime_allocator(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, redis_url: str, database_name: str
) -> Iterator[Allocator]:
    """The handler's own allocator, built by opd.runtime from the environment, as in a Lambda."""
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MONGODB_DATABASE", database_name)
    monkeypatch.setenv("NO_SHOW_GRACE_MINUTES", str(GRACE.seconds // 60))
    runtime.reset()
    yield runtime.allocator()
    runtime.reset()


def booked_slot(allocator: Allocator, start: datetime, patients: int) -> Slot:
    slot = allocator.create_slot(f"dr-{uuid.uuid4().hex[:8]}", start, start + timedelta(minutes=30))
    for n in range(patients):
        allocator.book(slot.slot_id, f"patient-{n}", Source.WALKIN)
    return allocator.get_slot(slot.slot_id)


def statuses(allocator: Allocator, slot_id: str) -> list[Status]:
    return [b.status for b in allocator.get_slot(slot_id).bookings]


def test_grace_boundary_and_emitted_metrics(
    runtime_allocator: Allocator, soon: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = booked_slot(runtime_allocator, soon, patients=2)

    nothing = {"marked": 0, "slots": 0, "busy": 0, "finished": True, **NO_MOVES}
    assert sweep(as_of(soon + GRACE - timedelta(seconds=1))) == nothing
    assert statuses(runtime_allocator, slot.slot_id) == [Status.BOOKED, Status.BOOKED]

    capsys.readouterr()
    assert sweep(as_of(soon + GRACE)) == {"marked": 2, "slots": 1, "busy": 0, "finished": True, **NO_MOVES}
    assert statuses(runtime_allocator, slot.slot_id) == [Status.NO_SHOW, Status.NO_SHOW]
    emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OPD"
    names = ("NoShowsMarked", "SlotsSwept", "SlotsBusy", "SweepFinished", "MovesFinished", "MovesAbandoned")
    assert [emf[name] for name in names] == [[2], [1], [0], [1], [0], [0]]


def test_checked_in_is_untouched_and_no_shows_free_their_places(runtime_allocator: Allocator, soon: datetime) -> None:
    slot = booked_slot(runtime_allocator, soon, patients=3)
    arrived, _, cancelled = slot.bookings
    runtime_allocator.check_in(arrived.booking_id)
    runtime_allocator.cancel(cancelled.booking_id)
    assert runtime_allocator.get_slot(slot.slot_id).booked == 2

    assert sweep(as_of(soon + GRACE))["marked"] == 1

    after = runtime_allocator.get_slot(slot.slot_id)
    assert [b.status for b in after.bookings] == [Status.CHECKED_IN, Status.NO_SHOW, Status.CANCELLED]
    assert after.booked == 1
    assert after.available(20)[domain.Tier.STANDARD] == 9


def test_second_run_marks_nothing(runtime_allocator: Allocator, soon: datetime) -> None:
    booked_slot(runtime_allocator, soon, patients=4)
    assert sweep(as_of(soon + GRACE))["marked"] == 4
    nothing = {"marked": 0, "slots": 0, "busy": 0, "finished": True, **NO_MOVES}
    assert sweep(as_of(soon + GRACE + timedelta(minutes=5))) == nothing


def test_a_reschedule_left_half_done_is_finished_before_no_shows_are_marked(
    runtime_allocator: Allocator, soon: datetime
) -> None:
    old = booked_slot(runtime_allocator, soon, patients=1)
    target = runtime_allocator.create_slot("dr-later", soon + timedelta(hours=2), soon + timedelta(hours=3))
    new_id = new_booking_id(target.slot_id)
    # Write 1 of a request that died right after it: the old booking marked, nothing in the target.
    assert runtime_allocator.store.replace(domain.begin_reschedule(old, old.bookings[0], new_id), old.version)

    result = sweep(as_of(soon + GRACE))  # past the old slot's grace: the move first

    one_move = {"movesFinished": 1, "movesAbandoned": 0, "counterTokensExpired": 0, "onSharesResent": 0}
    assert result == {"marked": 0, "slots": 0, "busy": 0, "finished": True, **one_move}
    assert statuses(runtime_allocator, old.slot_id) == [Status.CANCELLED]
    moved = runtime_allocator.get_booking(new_id)
    assert (moved.status, moved.rescheduled_from, moved.patient_id) == (
        Status.BOOKED,
        old.bookings[0].booking_id,
        "patient-0",
    )


def test_scheduled_event_sweeps_on_the_real_clock(runtime_allocator: Allocator) -> None:
    """The events/ file carries no "now": slots past grace by the real clock go, later ones stay."""
    now = runtime_allocator.clock()

    def past_slot(started_ago: timedelta) -> Slot:
        start = now - started_ago  # create_slot refuses a past slot, so it is built and stored directly
        slot = domain.new_slot(new_slot_id(), "dr-past", start, start + timedelta(hours=1), Capacity(), start)
        slot, _ = domain.book(slot, new_booking_id(slot.slot_id), "patient-1", Source.ONLINE, start, 20)
        runtime_allocator.store.insert(slot)
        return slot

    overdue, within_grace = past_slot(GRACE + timedelta(minutes=1)), past_slot(GRACE - timedelta(minutes=1))

    assert sweep(json.loads(EVENT_FILE.read_text()))["marked"] == 1
    assert statuses(runtime_allocator, overdue.slot_id) == [Status.NO_SHOW]
    assert statuses(runtime_allocator, within_grace.slot_id) == [Status.BOOKED]


def test_concurrent_runs_mark_each_booking_once(
    runtime_allocator: Allocator, soon: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two Lambda environments never share a process; two threads here share Powertools' one metrics
    # buffer, whose flush is not thread-safe, so metrics output is off for this test.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    slots = [booked_slot(runtime_allocator, soon + timedelta(minutes=30 * i), patients=3) for i in range(12)]
    start_together = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def run() -> None:
        start_together.wait()
        results.append(sweep(as_of(soon + timedelta(days=1))))

    runners = [threading.Thread(target=run) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    app.metrics.clear_metrics()

    assert len(results) == 2
    assert sum(r["marked"] for r in results) == 36
    assert all(statuses(runtime_allocator, s.slot_id) == [Status.NO_SHOW] * 3 for s in slots)
    assert sweep(as_of(soon + timedelta(days=1)))["marked"] == 0


def test_stops_before_the_deadline_and_the_next_run_finishes(runtime_allocator: Allocator, soon: datetime) -> None:
    slots = [booked_slot(runtime_allocator, soon + timedelta(minutes=30 * i), patients=2) for i in range(5)]
    remaining = iter(range(3_000, -100_000, -400))  # every look at the clock finds 0.4 s less
    nearly_out = ClockedContext(lambda: next(remaining))

    first = sweep(as_of(soon + timedelta(days=1)), nearly_out)

    assert first["finished"] is False
    assert 0 < first["slots"] < 5
    assert first["marked"] == 2 * first["slots"]
    # Slot by slot: each is either fully swept or untouched, never half done.
    done = [s for s in slots if statuses(runtime_allocator, s.slot_id) == [Status.NO_SHOW] * 2]
    untouched = [s for s in slots if statuses(runtime_allocator, s.slot_id) == [Status.BOOKED] * 2]
    assert (len(done), len(untouched)) == (first["slots"], 5 - first["slots"])

    second = sweep(as_of(soon + timedelta(days=1)))
    rest = {"marked": 10 - first["marked"], "slots": 5 - first["slots"], "busy": 0, "finished": True, **NO_MOVES}
    assert second == rest
    assert all(runtime_allocator.get_slot(s.slot_id).booked == 0 for s in slots)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # it fails before measuring anything
@pytest.mark.parametrize("bad", ["2026-11-21T09:30:00", "yesterday", 1700000000, ""])
def test_a_bad_now_is_refused_before_anything_connects(bad: object) -> None:
    with pytest.raises(ValueError, match='"now" must be an ISO 8601 time with an offset'):
        sweep({"now": bad})


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # it fails before measuring anything
@pytest.mark.parametrize("far", ["0001-01-01T00:05:00+00:00", "9999-12-31T23:59:59-05:00", "2000-01-01T00:00:00Z"])
def test_a_now_outside_the_window_is_refused_not_an_overflow(runtime_allocator: Allocator, far: str) -> None:
    # Year 1 less the grace period was an OverflowError deep in the sweep (a 500 from /_local/sweep).
    with pytest.raises(ValueError, match=r'"now" must be from .* at most 1 day back and 5 years ahead'):
        sweep({"now": far})
