"""Network round trips (Redis + MongoDB) per uncontended operation, by command. A figure, not a test.

Starts its own redis-server and nx-27017 (or uses REDIS_URL / MONGODB_URI) and, in N fresh slots
one after another, measures: a plain booking, a booking with an Idempotency-Key, a repeat of it,
a refusal (SLOT_FULL) without and with a key, a repeat of the keyed refusal, and a cancel. Prints
the mean trips of each with the commands behind them.
Run: .venv/bin/python benchmarks/round_trips.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from devserver.servers import given_or_own  # noqa: E402
from opd import store as store_module  # noqa: E402
from opd.domain import Capacity, Source  # noqa: E402
from opd.errors import SlotFull  # noqa: E402
from opd.lock import SlotLock  # noqa: E402
from opd.service import Allocator, RequestKey  # noqa: E402
from opd.settings import Settings  # noqa: E402
from opd.store import SlotStore  # noqa: E402
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, combined  # noqa: E402

# The most each operation may cost, uncontended (see SlotWriter.change in opd.service.writer for why).
TARGETS = {
    "plain booking": 4,
    "keyed booking": 4,
    "keyed repeat": 1,
    "refusal": 1,
    "keyed refusal": 2,
    "keyed refusal repeat": 2,
    "cancel": 4,
}


@dataclass(frozen=True)
class Figure:
    mean_round_trips: float
    max_round_trips: int
    by_command: dict[str, float]  # mean per operation
    target_max: int


def measure(redis_url: str, mongo_uri: str, repeats: int, database: str | None = None) -> dict[str, Figure]:
    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    database = database or f"opd_bench_{os.getpid()}"
    store = SlotStore(client[database]["slots"])
    store.ensure_indexes()
    allocator = Allocator(store, SlotLock(counting_redis), Settings())
    start = datetime.now(UTC) + timedelta(days=1)
    two_places = Capacity(base=2, premium_buffer=0, emergency_buffer=0)
    warm = allocator.create_slot("dr-bench", start - timedelta(hours=1), start)
    allocator.book(warm.slot_id, "warm-up", Source.ONLINE)  # connections are made once per environment

    trips: dict[str, list[Counter[str]]] = {name: [] for name in TARGETS}

    def counted(name: str, operation: Callable[[], object]) -> None:
        mongo_counter.commands.clear()
        counting_redis.commands.clear()
        with suppress(SlotFull):  # the refusals measured
            operation()
        trips[name].append(combined(mongo_counter.commands, counting_redis.commands))

    for i in range(repeats):
        at = start + timedelta(hours=i)
        slot = allocator.create_slot("dr-bench", at, at + timedelta(hours=1), two_places)
        one_of_each(allocator, slot.slot_id, f"{i}", counted)
    client.drop_database(database)
    client.close()
    counting_redis.close()

    figures = {}
    for name, counts in trips.items():
        totals = [sum(c.values()) for c in counts]
        by_command = combined(*counts)
        figures[name] = Figure(
            mean_round_trips=sum(totals) / len(totals),
            max_round_trips=max(totals),
            by_command={command: n / len(counts) for command, n in sorted(by_command.items())},
            target_max=TARGETS[name],
        )
    return figures


def one_of_each(
    allocator: Allocator, slot_id: str, n: str, counted: Callable[[str, Callable[[], object]], None]
) -> None:
    """Every operation once, in a slot with two places: the two bookings fill it, then come refusals."""
    booked = RequestKey(key=f"key-booked-{n}", body="body-1")
    refused = RequestKey(key=f"key-refused-{n}", body="body-2")
    plain: list[str] = []
    counted("plain booking", lambda: plain.append(allocator.book(slot_id, "patient-1", Source.ONLINE).booking_id))
    counted("keyed booking", lambda: allocator.book(slot_id, "patient-2", Source.ONLINE, booked))
    counted("keyed repeat", lambda: allocator.book(slot_id, "patient-2", Source.ONLINE, booked))
    counted("refusal", lambda: allocator.book(slot_id, "patient-3", Source.ONLINE))
    counted("keyed refusal", lambda: allocator.book(slot_id, "patient-4", Source.ONLINE, refused))
    counted("keyed refusal repeat", lambda: allocator.book(slot_id, "patient-4", Source.ONLINE, refused))
    counted("cancel", lambda: allocator.cancel(plain[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "round_trips.json")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_url, mongo_uri = given_or_own(stack, workdir)
        figures = measure(redis_url, mongo_uri, args.repeats)

    print(f"Round trips per uncontended operation ({args.repeats} of each, Redis + MongoDB)")
    print(f"{'operation':<22}{'mean':>6}{'max':>5}{'target':>8}   commands")
    for name, figure in figures.items():
        commands = ", ".join(f"{command} {n:g}" for command, n in figure.by_command.items())
        mark = "" if figure.max_round_trips <= figure.target_max else "   MISSED"
        print(
            f"{name:<22}{figure.mean_round_trips:>6.2f}{figure.max_round_trips:>5}"
            f"{'<= ' + str(figure.target_max):>8}   {commands}{mark}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({name: asdict(f) for name, f in figures.items()}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
