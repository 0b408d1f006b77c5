"""Network round trips (Redis + MongoDB) per uncontended booking, by command. A figure, not a test.

Starts its own redis-server and nx-27017 (or uses REDIS_URL / MONGODB_URI), books N patients one
after another into fresh slots, and prints the mean trips per booking with the commands behind them.
Run: .venv/bin/python benchmarks/round_trips.py [--bookings 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from devserver.servers import mongo_server, redis_server  # noqa: E402
from opd import store as store_module  # noqa: E402
from opd.domain import Source  # noqa: E402
from opd.lock import SlotLock  # noqa: E402
from opd.service import Allocator  # noqa: E402
from opd.settings import Settings  # noqa: E402
from opd.store import SlotStore  # noqa: E402
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, combined  # noqa: E402

TARGET = 4


@dataclass(frozen=True)
class RoundTrips:
    bookings: int
    mean_round_trips: float
    max_round_trips: int
    by_command_per_booking: dict[str, float]
    target_max: int = TARGET


def measure(redis_url: str, mongo_uri: str, bookings: int) -> RoundTrips:
    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    database = f"opd_bench_{os.getpid()}"
    store = SlotStore(client[database]["slots"])
    store.ensure_indexes()
    allocator = Allocator(store, SlotLock(counting_redis), Settings())
    start = datetime.now(UTC) + timedelta(days=1)
    slots = [
        allocator.create_slot("dr-bench", start + timedelta(hours=h), start + timedelta(hours=h + 1))
        for h in range(bookings)
    ]
    allocator.book(slots[0].slot_id, "warm-up", Source.ONLINE)  # connections are made once per environment

    per_booking: list[int] = []
    total: Counter[str] = Counter()
    for i, slot in enumerate(slots):
        mongo_counter.commands.clear()
        counting_redis.commands.clear()
        allocator.book(slot.slot_id, f"patient-{i}", Source(list(Source)[i % len(Source)]))
        trips = combined(mongo_counter.commands, counting_redis.commands)
        per_booking.append(sum(trips.values()))
        total.update(trips)
    client.drop_database(database)
    client.close()
    return RoundTrips(
        bookings=bookings,
        mean_round_trips=sum(per_booking) / bookings,
        max_round_trips=max(per_booking),
        by_command_per_booking={name: count / bookings for name, count in sorted(total.items())},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "round_trips.json")
    args = parser.parse_args()
    with ExitStack() as stack:
        redis_url, mongo_uri = os.environ.get("REDIS_URL"), os.environ.get("MONGODB_URI")
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if not redis_url:
            server = redis_server(workdir).start()
            stack.callback(server.stop)
            redis_url = server.url
        if not mongo_uri:
            server = mongo_server(workdir).start()
            stack.callback(server.stop)
            mongo_uri = server.url
        result = measure(redis_url, mongo_uri, args.bookings)

    print(f"Round trips per uncontended booking ({result.bookings} bookings, Redis + MongoDB)")
    print(f"{'command':<16}{'per booking':>12}")
    for name, count in result.by_command_per_booking.items():
        print(f"{name:<16}{count:>12.2f}")
    print(f"{'total (mean)':<16}{result.mean_round_trips:>12.2f}")
    print(f"{'total (max)':<16}{result.max_round_trips:>12}   target <= {TARGET}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(result), indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
