"""Soak: back-to-back rushes against one local stack for a given time; settle and memory, minute by minute.

Each rush is `rush.py`'s (`rush_case`): by default 10 slots × 20 clients, every booking with a phone, so
the bus, the archive, the notifier and SNS carry an event and an SMS per booking, and the relay runs on
its schedule. The same patients book rush after rush (new slots each time), so that the local Cognito
does not grow with new users: what grows is what the events leave behind. Per minute it prints the
median settle of that minute's rushes and the resident memory (RSS, /proc/<pid>/statm) of each process
of the stack by role (`GET /_local/processes`): gateway, route environments (their sum), notifier, relay,
bus, moto, nx-27017, redis-server. At the end: whether the last minute's settle is within 1.2× of the
first's, and whether any process grew by more than 20 MB after its first minute.

Figures, not a test: nothing is asserted about time. Bounded by `--minutes` and `--max-rushes`, on this
machine only (the runner it starts, or `--url` on 127.0.0.1: its processes are read from /proc).

    .venv/bin/python benchmarks/soak.py                      # 10 minutes of 10 × 20
    .venv/bin/python benchmarks/soak.py --minutes 2
    .venv/bin/python benchmarks/soak.py --url http://127.0.0.1:3000 --minutes 5   # a `make serve`
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # run as a script: the repo's packages

from benchmarks.rush import RESULTS, ROLES, given, rss_mb, runner, rush_case, stack_processes  # noqa: E402
from demo.client import OpdClient, at_once  # noqa: E402

SETTLE_RATIO = 1.2  # the last minute's settle against the first's
GROWTH_MB = 20.0  # a process's growth after its first minute
CATCH_UP_S = 120  # at most this long for the SMS of every booking, after the last rush
# The notifier's month cap (SMS_MONTHLY_SPEND_LIMIT_USD, $10 at $0.01 a part by default) would stop the SMS
# after five rushes: the runner this script starts has a cap out of reach.
SOAK_ENVIRONMENT = {"SMS_MONTHLY_SPEND_LIMIT_USD": "1000000"}


@dataclass
class Minute:
    number: int
    settles: list[float] = field(default_factory=list)
    rss: dict[str, dict[int, float]] = field(default_factory=dict)  # at the minute's end: role -> pid -> MB

    @property
    def settle(self) -> float:
        return statistics.median(self.settles) if self.settles else float("nan")


def memory(api: OpdClient, root: int | None) -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {}
    for role, pids in stack_processes(api, root).items():
        found[role] = {pid: mb for pid in pids if (mb := rss_mb(pid)) is not None}
    return found


def roles_of(minutes: list[Minute]) -> list[str]:
    seen = {role for minute in minutes for role in minute.rss}
    return [role for role in (*ROLES, "environments", "other") if role in seen]


def line(minute: Minute, roles: list[str]) -> str:
    cells = []
    for role in roles:
        sizes = minute.rss.get(role, {})
        total = f"{sum(sizes.values()):.0f}" if sizes else "-"
        cells.append(f"{total + (f' ({len(sizes)})' if len(sizes) > 1 else ''):>{max(12, len(role) + 2)}}")
    return f"{minute.number:>6}{len(minute.settles):>8}{minute.settle:>10.2f}" + "".join(cells)


def header(roles: list[str]) -> str:
    return f"{'minute':>6}{'rushes':>8}{'settle s':>10}" + "".join(
        f"{role:>{max(12, len(role) + 2)}}" for role in roles
    )


def growth(first: Minute, last: Minute) -> list[tuple[str, int, float, float]]:
    """(role, pid, MB at the end of the first minute, MB at the end) of every process that grew past GROWTH_MB."""
    grown = []
    for role, sizes in last.rss.items():
        for pid, mb in sizes.items():
            before = first.rss.get(role, {}).get(pid)
            if before is not None and mb - before > GROWTH_MB:
                grown.append((role, pid, before, mb))
    return grown


def catch_up(api: OpdClient, before: int, expected: int) -> float | None:
    """Seconds until `expected` SMS were sent after the rushes ended (the bus catching up), or None after
    CATCH_UP_S."""
    began = time.monotonic()
    while time.monotonic() - began < CATCH_UP_S:
        if len(api.sms()) - before >= expected:
            return time.monotonic() - began
        time.sleep(1.0)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("-k", "--slots", type=int, default=10, help="slots per rush (default 10)")
    parser.add_argument("-n", "--clients", type=int, default=20, help="clients per slot (default 20)")
    parser.add_argument("--no-phones", dest="phones", action="store_false", help="bookings without a phone: no SMS")
    parser.add_argument("--max-rushes", type=int, default=2000, help="stop after this many rushes (default 2000)")
    parser.add_argument("--environments", type=int, default=20, help="the runner's Lambda environments (default 20)")
    parser.add_argument("--url", help="a running local API on 127.0.0.1 (e.g. `make serve`) instead of starting one")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.slots <= 72 or args.clients < 1 or args.max_rushes < 1:
        parser.error("--minutes is (0, 1440], -k 1..72, -n and --max-rushes at least 1")
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost"):
        parser.error("--url must be a runner on this machine (127.0.0.1): its processes are read from /proc")

    minutes: list[Minute] = []
    with runner(args.environments, SOAK_ENVIRONMENT) if args.url is None else given(args.url) as stack:
        api, probe = OpdClient(stack.url), OpdClient(stack.url, timeout_s=5, max_attempts=1)
        admin, desk = api.token("admin", "soak-admin"), api.token("reception", "soak-desk")
        at_once([api.health for _ in range(2 * args.environments)])  # every environment started first
        tokens: dict[str, str] = {}
        began = time.monotonic()
        ends = began + 60 * args.minutes
        minute, rushes, booked, sms_before = Minute(1), 0, 0, len(api.sms())
        print(f"soak: {args.slots} × {args.clients} back to back for {args.minutes:g} min, phones {args.phones}")
        while time.monotonic() < ends and rushes < args.max_rushes:
            seed = args.seed + rushes
            row = rush_case(
                api, admin, desk, args.slots, args.clients, seed, phones=args.phones, patients="soak", tokens=tokens
            )
            rushes += 1
            booked += row["booked"]
            minute.settles.append(row["settleSeconds"])
            if row["overbookedSlots"]:
                print(f"  rush {rushes}: {row['overbookedSlots']} overbooked slots: {row['overbooking']}")
            done = time.monotonic() >= ends or rushes >= args.max_rushes
            if time.monotonic() - began >= 60 * minute.number or done:
                minute.rss = memory(probe, stack.pid)
                minutes.append(minute)
                roles = roles_of(minutes)
                if minute.number == 1:
                    print("RSS in MB at the end of each minute (a group's sum, its processes in brackets)")
                    print(header(roles))
                print(line(minute, roles), flush=True)
                minute = Minute(minute.number + 1)
        sms_at_end = len(api.sms()) - sms_before
        caught_up = catch_up(api, sms_before, booked if args.phones else 0)
        sms_sent = len(api.sms()) - sms_before

    first, last = minutes[0], minutes[-1]
    ratio = last.settle / first.settle if first.settle else float("inf")
    settle_ok = ratio <= SETTLE_RATIO
    grown = growth(first, last) if len(minutes) > 1 else []
    print()
    print(f"{rushes} rushes in {len(minutes)} minutes, {booked} bookings")
    if args.phones:
        late = (
            f"caught up {caught_up:.0f} s later" if caught_up is not None else f"{sms_sent} sent {CATCH_UP_S} s later"
        )
        print(f"SMS: {sms_at_end} of {booked} sent when the last rush ended ({late}): the notifier's backlog")
    print(
        f"settle: first minute {first.settle:.2f} s, last {last.settle:.2f} s ({ratio:.2f}×): "
        f"{'within' if settle_ok else 'NOT within'} {SETTLE_RATIO}× of the first"
    )
    if len(minutes) < 2:
        print("memory: one minute only, nothing to compare")
    elif grown:
        for role, pid, before, after in grown:
            grew = f"grew {after - before:.0f} MB after its first minute ({before:.0f} → {after:.0f} MB)"
            print(f"memory: {role} (pid {pid}) {grew}")
    else:
        print(f"memory: no process grew by more than {GROWTH_MB:.0f} MB after its first minute")
    result: dict[str, Any] = {
        "benchmark": "soak",
        "slots": args.slots,
        "clientsPerSlot": args.clients,
        "phones": args.phones,
        "url": args.url,
        "rushes": rushes,
        "booked": booked,
        "smsSentAtEnd": sms_at_end,
        "smsSent": sms_sent,
        "smsCaughtUpSeconds": caught_up,
        "minutes": [
            {
                "minute": m.number,
                "rushes": len(m.settles),
                "settleSeconds": m.settle,
                "settles": m.settles,
                "rssMb": {role: {str(pid): mb for pid, mb in sizes.items()} for role, sizes in m.rss.items()},
            }
            for m in minutes
        ],
        "settleRatio": ratio,
        "settleWithin": settle_ok,
        "grewMb": [{"role": r, "pid": p, "firstMinuteMb": b, "lastMb": a} for r, p, b, a in grown],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
