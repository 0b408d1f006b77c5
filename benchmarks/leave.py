"""A crowded day's leave in one request: POST /doctors/{doctorId}/leave of 100 full slots. A figure, not a test.

Starts its own redis-server and nx-27017 (or uses REDIS_URL / MONGODB_URI), as sessions.py does. Each run
gives a doctor of its own the most one date may hold: 100 slots (5 minutes each, from 08:00), each with
15 places taken (10 ONLINE, 2 PAID, 3 EMERGENCY: every tier at its limit) and a full waitlist
(WAITLIST_LIMIT, 10 ONLINE): 2,500 bookings, made in pure code and inserted in one bulk write. Then the
route's Lambda handler, in this process with its sample event (an admin's claims), takes the day's leave:
100 slots closed, 2,500 bookings cancelled, 2,600 events. Timed from the event to the answer, with its
MongoDB and Redis round trips counted by command; then the same request again (changes nothing).

Events go through the real adapter (opd.publisher, 10 entries a PutEvents) to a stand-in for boto3's client
that takes every entry after `--put-ms` milliseconds a request: the README's 10-30 ms in-region, and 0 for
the CPU alone. `--bus off` leaves every event to the relay, as a function without EVENT_BUS_NAME does.
Run: .venv/bin/python benchmarks/leave.py [--repeats 3] [--put-ms 0 20]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from devserver.apigw import LambdaContext as LocalContext  # noqa: E402
from devserver.servers import given_or_own  # noqa: E402
from opd import store as store_module  # noqa: E402
from opd.lock import SlotLock  # noqa: E402
from opd.publisher import EventBridgePublisher  # noqa: E402
from opd.service import Allocator  # noqa: E402
from opd.settings import Settings  # noqa: E402
from opd.store import SlotStore  # noqa: E402
from tests.support.crowded import crowded_day  # noqa: E402
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, combined  # noqa: E402

SLOTS = 100  # the most one doctor may have on a date (domain.MAX_SLOTS_PER_DAY)
TARGET_S = 3.0
TIMEOUT_S = 10  # the function's timeout (template.yaml, Globals)


class TimedEventBridge:
    """boto3's EventBridge client as the publisher sees it: every entry taken, after `put_ms` a request."""

    def __init__(self, put_ms: float) -> None:
        self.put_s = put_ms / 1000
        self.calls = 0
        self._guard = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's name
        time.sleep(self.put_s)
        with self._guard:
            self.calls += 1
        return {"FailedEntryCount": 0, "Entries": [{"EventId": f"e-{i}"} for i in range(len(Entries))]}


@dataclass(frozen=True)
class Figure:
    bus: str
    status: int
    slots: int
    cancelled: int
    median_s: float
    max_s: float
    cpu_s: float  # median CPU time of this process (every thread) in a leave: what Lambda's share of a core must give
    repeat_median_s: float
    put_events: float  # PutEvents requests, mean per leave
    round_trips: float  # MongoDB and Redis, mean per leave
    by_command: dict[str, float]  # mean per leave


def leave_event(doctor_id: str, day: date) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((ROOT / "events" / "take_leave.json").read_text()))
    event["pathParameters"] = {"doctorId": doctor_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/doctors/{doctor_id}/leave"
    event["body"] = json.dumps({"date": day.isoformat(), "reason": "benchmark"})
    return event


def measure(redis_url: str, mongo_uri: str, bus: str, put_ms: float, repeats: int, profile: Path | None) -> Figure:
    os.environ.update({"REDIS_URL": redis_url, "MONGODB_URI": mongo_uri, "POWERTOOLS_LOG_LEVEL": "WARNING"})
    from functions.take_leave import app as handler  # the settings are read at this import

    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    database = f"opd_bench_leave_{os.getpid()}"
    store = SlotStore(client[database]["slots"])
    store.ensure_indexes()
    settings = Settings()
    bridge = TimedEventBridge(put_ms)
    publisher = None if bus == "off" else EventBridgePublisher("opd-bench", client=bridge)
    allocator = Allocator(store, SlotLock(counting_redis), settings, publisher=publisher)
    handler.allocator = lambda: allocator  # type: ignore[attr-defined]  # the route's allocator is this counted one
    context = cast(LambdaContext, LocalContext("TakeLeaveFunction", memory_limit_in_mb=512, timeout_s=TIMEOUT_S))
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    now = datetime.now(UTC)
    handler.lambda_handler(leave_event("dr-warm-up", day), context)  # connections, caches: once per environment

    runs: list[tuple[int, dict[str, Any], float, float, float, int, Counter[str]]] = []
    for i in range(repeats):
        doctor_id = f"dr-leave-{bus}-{put_ms:g}-{i}"
        store.insert_all(crowded_day(doctor_id, day, now, settings.waitlist_limit, SLOTS))
        event = leave_event(doctor_id, day)
        mongo_counter.commands.clear()
        counting_redis.commands.clear()
        calls_before = bridge.calls
        profiler = cProfile.Profile() if profile is not None and i == 0 else None
        began, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        raw = handler.lambda_handler(event, context)
        if profiler is not None:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        trips = combined(mongo_counter.commands, counting_redis.commands)
        puts = bridge.calls - calls_before
        began = time.perf_counter()
        again = handler.lambda_handler(event, context)
        repeat = time.perf_counter() - began
        assert again["statusCode"] == 200 and json.loads(again["body"])["cancelled"] == [], again
        runs.append((raw["statusCode"], json.loads(raw["body"]), elapsed, cpu, repeat, puts, trips))
        if profiler is not None and profile is not None:
            profiler.dump_stats(profile)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    client.drop_database(database)
    client.close()
    counting_redis.close()

    status, body, *_ = runs[-1]
    counts = [trips for *_, trips in runs]
    return Figure(
        bus=bus if bus == "off" else f"{put_ms:g} ms a PutEvents",
        status=status,
        slots=body.get("slots", 0),
        cancelled=len(body.get("cancelled", [])),
        median_s=statistics.median(r[2] for r in runs),
        max_s=max(r[2] for r in runs),
        cpu_s=statistics.median(r[3] for r in runs),
        repeat_median_s=statistics.median(r[4] for r in runs),
        put_events=statistics.mean(r[5] for r in runs),
        round_trips=sum(sum(c.values()) for c in counts) / len(counts),
        by_command={command: n / len(counts) for command, n in sorted(combined(*counts).items())},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--put-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--bus", choices=("on", "off", "both"), default="both")
    parser.add_argument("--profile", type=Path, help="cProfile the first leave of the first setting into this file")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "leave.json")
    args = parser.parse_args()
    settings = [("on", ms) for ms in args.put_ms] if args.bus != "off" else []
    settings += [("off", 0.0)] if args.bus != "on" else []
    figures = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_url, mongo_uri = given_or_own(stack, workdir)
        for n, (bus, put_ms) in enumerate(settings):
            figures.append(measure(redis_url, mongo_uri, bus, put_ms, args.repeats, args.profile if n == 0 else None))

    print(
        f"POST /doctors/{{doctorId}}/leave of {SLOTS} slots x 25 bookings (15 places, 10 waitlisted), "
        f"{args.repeats} runs each; target <= {TARGET_S:g} s, the function's timeout {TIMEOUT_S} s"
    )
    print(
        f"{'bus':<20}{'status':>7}{'slots':>7}{'cancelled':>11}{'median':>9}{'max':>9}{'cpu':>8}{'repeat':>9}"
        f"{'puts':>7}{'trips':>7}"
    )
    for f in figures:
        commands = ", ".join(f"{command} {n:g}" for command, n in f.by_command.items())
        print(
            f"{f.bus:<20}{f.status:>7}{f.slots:>7}{f.cancelled:>11}{f.median_s:>8.2f}s{f.max_s:>8.2f}s"
            f"{f.cpu_s:>7.2f}s{f.repeat_median_s:>8.2f}s{f.put_events:>7g}{f.round_trips:>7g}   {commands}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
