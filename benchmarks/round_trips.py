"""Network round trips (Redis + MongoDB) per uncontended operation, by command. A figure, not a test.

Starts its own redis-server and nx-27017 (or uses REDIS_URL / MONGODB_URI) and, in N fresh slots
one after another, measures: a plain booking, a booking with an Idempotency-Key, a repeat of it,
a refusal (SLOT_FULL) without and with a key, a repeat of the keyed refusal, and a cancel. Prints
the mean trips of each with the commands behind them, and the trips made while the slot's lock was
held (`held`): from the lock's script to the release's, both included. Events are on (an in-process
bus that would record each PutEvents): the release's script hands a change's events to the publisher
(`opd.handoff`), so a request makes no PutEvents and no round trip for its events.
Run: .venv/bin/python benchmarks/round_trips.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
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
from opd.eventbridge import Entry  # noqa: E402
from opd.lock import SlotLock  # noqa: E402
from opd.service import Allocator, RequestKey  # noqa: E402
from opd.settings import Settings  # noqa: E402
from opd.store import SlotStore  # noqa: E402
from tests.support.events import RecordingPublisher  # noqa: E402
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, Trail, combined  # noqa: E402

# The most each operation may cost, uncontended (see SlotWriter.change in opd.service.writer for why):
# round trips in all, and those made while the slot's lock is held. A change is find, lock, update and
# release, whose script also hands the change's events to the publisher.
TARGETS = {
    "plain booking": (4, 3),
    "keyed booking": (4, 3),
    "keyed repeat": (1, 0),
    "refusal": (1, 0),
    "keyed refusal": (2, 0),
    "keyed refusal repeat": (2, 0),
    "cancel": (4, 3),
}


@dataclass(frozen=True)
class Figure:
    mean_round_trips: float
    max_round_trips: int
    by_command: dict[str, float]  # mean per operation
    target_max: int
    held: dict[str, float]  # mean per operation of the trips made while the lock was held, by command
    max_held: int
    target_held: int


class TrailedBus(RecordingPublisher):
    """The bus, each PutEvents request written down in the trail (a round trip to EventBridge)."""

    def __init__(self, trail: Trail) -> None:
        super().__init__()
        self.trail = trail

    def publish(self, entries: Sequence[Entry]) -> set[str]:
        self.trail.extend(["events put"] * ((len(entries) + 9) // 10))
        return super().publish(entries)


def measure(redis_url: str, mongo_uri: str, repeats: int, database: str | None = None) -> dict[str, Figure]:
    trail = Trail()
    mongo_counter, counting_redis = MongoCommandCounter(trail), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    counting_redis.trail = trail
    client = store_module.connect(mongo_uri, event_listeners=[mongo_counter])
    database = database or f"opd_bench_{os.getpid()}"
    store = SlotStore(client[database]["slots"])
    store.ensure_indexes()
    hand_off_key = f"events:handed-off:bench-{os.getpid()}"  # its own list, dropped at the end
    lock = SlotLock(counting_redis, hand_off_key=hand_off_key)
    allocator = Allocator(store, lock, Settings(), publisher=TrailedBus(trail))
    start = datetime.now(UTC) + timedelta(days=1)
    two_places = Capacity(base=2, premium_buffer=0, emergency_buffer=0)
    warm = allocator.create_slot("dr-bench", start - timedelta(hours=1), start)
    allocator.book(warm.slot_id, "warm-up", Source.ONLINE)  # connections are made once per environment

    trips: dict[str, list[Counter[str]]] = {name: [] for name in TARGETS}
    held: dict[str, list[list[str]]] = {name: [] for name in TARGETS}

    def counted(name: str, operation: Callable[[], object]) -> None:
        mongo_counter.commands.clear()
        counting_redis.commands.clear()
        trail.clear()
        with suppress(SlotFull):  # the refusals measured
            operation()
        trips[name].append(combined(mongo_counter.commands, counting_redis.commands))
        held[name].append(trail.held())

    for i in range(repeats):
        at = start + timedelta(hours=i)
        slot = allocator.create_slot("dr-bench", at, at + timedelta(hours=1), two_places)
        one_of_each(allocator, slot.slot_id, f"{i}", counted)
    client.drop_database(database)
    client.close()
    counting_redis.delete(hand_off_key)
    counting_redis.close()

    figures = {}
    for name, counts in trips.items():
        totals = [sum(c.values()) for c in counts]
        by_command = combined(*counts)
        figures[name] = Figure(
            mean_round_trips=sum(totals) / len(totals),
            max_round_trips=max(totals),
            by_command={command: n / len(counts) for command, n in sorted(by_command.items())},
            target_max=TARGETS[name][0],
            held={command: n / len(counts) for command, n in sorted(Counter(c for h in held[name] for c in h).items())},
            max_held=max(len(h) for h in held[name]),
            target_held=TARGETS[name][1],
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
    print(f"{'operation':<22}{'mean':>6}{'max':>5}{'target':>8}{'held':>6}{'target':>8}   commands (while held)")
    for name, figure in figures.items():
        commands = ", ".join(f"{command} {n:g}" for command, n in figure.by_command.items())
        under_lock = ", ".join(f"{command} {n:g}" for command, n in figure.held.items()) or "no lock"
        met = figure.max_round_trips <= figure.target_max and figure.max_held <= figure.target_held
        mark = "" if met else "   MISSED"
        print(
            f"{name:<22}{figure.mean_round_trips:>6.2f}{figure.max_round_trips:>5}"
            f"{'<= ' + str(figure.target_max):>8}{figure.max_held:>6}{'<= ' + str(figure.target_held):>8}"
            f"   {commands} ({under_lock}){mark}"
        )
    print("Round trips are Redis and MongoDB; held counts the lock's own two scripts and every trip between them,")
    print("and PutEvents (events put) where a request makes one: none, the release's script hands the events off.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({name: asdict(f) for name, f in figures.items()}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
