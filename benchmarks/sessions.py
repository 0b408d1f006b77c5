"""500 slots in one request: POST /doctors/{doctorId}/sessions at its limit, and its repeat. A figure, not a test.

Starts its own redis-server and nx-27017 (or uses REDIS_URL / MONGODB_URI), as round_trips.py does, and
calls the route's Lambda handler in this process with its sample event (an admin's claims), the body
changed to 25 days of 08:00-13:00 in 15-minute slots (500), for a doctor of its own each run: first
the request that creates the 500, then the same request again (creates nothing, lists the 500 that
exist). Each is timed from the event to the answer (validation, the plan, the writes, 500 Slot answers
serialised) and its MongoDB and Redis round trips are counted by command.
Run: .venv/bin/python benchmarks/sessions.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from devserver.apigw import LambdaContext as LocalContext  # noqa: E402
from devserver.servers import given_or_own  # noqa: E402
from opd import store as store_module  # noqa: E402
from opd.domain import MAX_SESSION_SLOTS  # noqa: E402
from opd.lock import SlotLock  # noqa: E402
from opd.service import Allocator  # noqa: E402
from opd.settings import Settings  # noqa: E402
from opd.store import SlotStore  # noqa: E402
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, combined  # noqa: E402

DAYS, OPENS, CLOSES, MINUTES = 25, "08:00", "13:00", 15  # 25 x 20 = 500 slots


@dataclass(frozen=True)
class Figure:
    status: int
    created: int
    existing: int
    median_ms: float
    max_ms: float
    answer_kib: float
    round_trips: float  # mean per request
    by_command: dict[str, float]  # mean per request


def session_event(doctor_id: str, first: datetime) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "open_sessions.json").read_text())
    event = copy.deepcopy(event)
    event["pathParameters"] = {"doctorId": doctor_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/doctors/{doctor_id}/sessions"
    last = first + timedelta(days=DAYS - 1)
    body: dict[str, object] = {"from": first.date().isoformat(), "to": last.date().isoformat()}
    body |= {"start": OPENS, "end": CLOSES, "slotMinutes": MINUTES}
    event["body"] = json.dumps(body)
    return event


def measure(redis_url: str, mongo_uri: str, repeats: int) -> dict[str, Figure]:
    os.environ.update({"REDIS_URL": redis_url, "MONGODB_URI": mongo_uri, "POWERTOOLS_LOG_LEVEL": "WARNING"})
    from functions.open_sessions import app as handler  # the settings are read at this import

    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    database = f"opd_bench_sessions_{os.getpid()}"
    store = SlotStore(client[database]["slots"])
    store.ensure_indexes()
    allocator = Allocator(store, SlotLock(counting_redis), Settings())
    handler.allocator = lambda: allocator  # type: ignore[attr-defined]  # the route's allocator is this counted one
    context = cast(LambdaContext, LocalContext("OpenSessionsFunction", memory_limit_in_mb=512, timeout_s=10))
    first = datetime.now(UTC) + timedelta(days=2)
    handler.lambda_handler(session_event("dr-warm-up", first), context)  # connections, caches: once per environment

    runs: dict[str, list[tuple[int, dict[str, Any], float, int, Counter[str]]]] = {"first": [], "repeat": []}
    for i in range(repeats):
        event = session_event(f"dr-bench-{i}", first)
        for name in ("first", "repeat"):
            mongo_counter.commands.clear()
            counting_redis.commands.clear()
            began = time.perf_counter()
            raw = handler.lambda_handler(event, context)
            elapsed_ms = (time.perf_counter() - began) * 1000
            trips = combined(mongo_counter.commands, counting_redis.commands)
            runs[name].append((raw["statusCode"], json.loads(raw["body"]), elapsed_ms, len(raw["body"]), trips))
    client.drop_database(database)
    client.close()
    counting_redis.close()

    figures = {}
    for name, done in runs.items():
        status, body, _, _, _ = done[-1]
        times = [elapsed for _, _, elapsed, _, _ in done]
        counts = [trips for *_, trips in done]
        figures[name] = Figure(
            status=status,
            created=len(body.get("created", [])),
            existing=len(body.get("existing", [])),
            median_ms=statistics.median(times),
            max_ms=max(times),
            answer_kib=statistics.median(size for *_, size, _ in done) / 1024,
            round_trips=sum(sum(c.values()) for c in counts) / len(counts),
            by_command={command: n / len(counts) for command, n in sorted(combined(*counts).items())},
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sessions.json")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_url, mongo_uri = given_or_own(stack, workdir)
        figures = measure(redis_url, mongo_uri, args.repeats)

    print(f"POST /doctors/{{doctorId}}/sessions, {MAX_SESSION_SLOTS} slots in one request ({args.repeats} runs each)")
    print(
        f"{'request':<8}{'status':>7}{'created':>9}{'existing':>10}{'median':>10}{'max':>10}{'answer':>10}{'trips':>7}"
    )
    for name, f in figures.items():
        commands = ", ".join(f"{command} {n:g}" for command, n in f.by_command.items())
        print(
            f"{name:<8}{f.status:>7}{f.created:>9}{f.existing:>10}{f.median_ms:>8.0f}ms{f.max_ms:>8.0f}ms"
            f"{f.answer_kib:>7.0f}KiB{f.round_trips:>7g}   {commands}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({name: asdict(f) for name, f in figures.items()}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
