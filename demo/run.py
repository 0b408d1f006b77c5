"""The day, start to end: a local stack, the clinic opened, the replay, the checks and the report."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import Any

from demo.checks import Check, check_day
from demo.client import OpdClient, expect, in_parallel
from demo.day import FIRST_HOUR, PHASES, TIERS, DayLog, SlotPlan
from demo.replay import REPLAY, Clinic, read_back
from demo.report import plot_timeline, report_text, slot_rows

DOCTORS = ("asha", "bose", "chen", "diaz", "eze", "fonseca", "gupta", "haddad", "ito", "jensen")


# -- the day, start to end -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    checks: list[Check]
    rows: list[dict[str, Any]]
    report: Path
    timeline: Path

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class Progress:
    def __init__(self) -> None:
        self.began = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.began

    def say(self, phase: str, text: str) -> None:
        print(f"[{self.seconds:5.1f}s] {phase:<17} {text}", flush=True)


def open_clinic(api: OpdClient, day: date, doctors: int, hours: int, seed: int) -> Clinic:
    """Tokens for the admin and the desk; each doctor's hourly slots, listed back to be sure."""
    admin, reception = api.token("admin", "demo-admin"), api.token("reception", "demo-desk")
    names = [
        f"dr-{DOCTORS[n % len(DOCTORS)]}" + (f"{n // len(DOCTORS)}" if n >= len(DOCTORS) else "")
        for n in range(doctors)
    ]

    def room(doctor_id: str) -> list[tuple[SlotPlan, dict[str, int]]]:
        made = []
        for hour in range(hours):
            start = datetime.combine(day, clock_time(FIRST_HOUR + hour), UTC)
            body = expect(api.create_slot(admin, doctor_id, start, start + timedelta(hours=1)), "create slot")
            made.append((SlotPlan(doctor_id, body["slotId"], start, start + timedelta(hours=1)), body["limits"]))
        listed = expect(api.doctor_slots(doctor_id, day.isoformat()), "list slots")["slots"]
        if [s["slotId"] for s in listed] != [plan.slot_id for plan, _ in made]:
            raise RuntimeError(f"GET /doctors/{doctor_id}/slots lists {listed}, not the slots just made")
        return made

    made = [pair for pairs in in_parallel([partial(room, name) for name in names]) for pair in pairs]
    log = DayLog([plan for plan, _ in made], {plan.slot_id: limits for plan, limits in made})
    return Clinic(api, admin, reception, log.slots, log, seed)


@contextmanager
def local_stack(database: str) -> Iterator[tuple[str, Callable[[str], dict[str, Any] | None]]]:
    """The local runner in this process, on its own servers and a throwaway data directory."""
    from pymongo import MongoClient

    from devserver.runner import start_stack

    with (
        tempfile.TemporaryDirectory(prefix="opd-demo-") as data,
        start_stack(port=0, data_dir=Path(data), auth=True, persist=False, database=database) as stack,
    ):
        mongo: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, tz_aware=True)
        slots = mongo[stack.database]["slots"]
        try:
            yield stack.url, lambda slot_id: slots.find_one({"_id": slot_id})
        finally:
            mongo.close()


def run_demo(doctors: int, hours: int, rush: int, seed: int, out: Path) -> DemoResult:
    progress = Progress()
    day = (datetime.now(UTC) + timedelta(days=1)).date()  # tomorrow: every slot is still open
    with local_stack(f"opd_demo_{uuid.uuid4().hex[:8]}") as (url, store):
        api = OpdClient(url)
        progress.say("local stack", f"{url} (own Redis, MongoDB-wire store, Cognito, Lambda environments)")
        clinic = open_clinic(api, day, doctors, hours, seed)
        limits = "/".join(str(clinic.log.limits[clinic.slots[0].slot_id][tier]) for tier in TIERS)
        progress.say("setup", f"{doctors} doctors × {hours} hourly slots on {day} (UTC), tier limits {limits}")
        ids = [f"pt-{n:04d}" for n in range(1, rush + 1)]
        clinic.patients = dict(zip(ids, in_parallel([partial(api.token, "patient", p) for p in ids], 4), strict=True))
        progress.say("patients", f"{rush} online patients signed in, each with their own token")
        phases = []
        for phase, play in zip(PHASES, REPLAY, strict=True):
            text = play(clinic)
            phases.append({"phase": phase, "summary": text, "seconds": round(progress.seconds, 1)})
            progress.say(phase, text)
        finals = read_back(clinic, store)
        checks = check_day(clinic.log, finals)
        bookings = sum(len(f.bookings) for f in finals.values())
        progress.say("read back", f"{len(finals)} slots, their queues, {bookings} bookings and the store's documents")

    rows = slot_rows(clinic.log, finals)
    print()
    print(f"Clinic day {day} (UTC), replayed {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {progress.seconds:.0f} s")
    print(report_text(rows, checks))
    out.mkdir(parents=True, exist_ok=True)
    report, timeline = out / "report.json", out / "timeline.png"
    document = {
        "clinicDay": day.isoformat(),
        "timeZone": "UTC",
        "doctors": doctors,
        "slotsPerDoctor": hours,
        "rushPatients": rush,
        "seed": seed,
        "seconds": round(progress.seconds, 1),
        "phases": phases,
        "slots": rows,
        "invariants": [{"name": c.name, "ok": c.ok, "checked": c.checked, "problems": c.problems} for c in checks],
        "events": [asdict(e) for e in clinic.log.events],
    }
    report.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    title = f"Clinic day {day} (UTC): each slot's active bookings against its tier limits"
    plot_timeline(clinic.log, timeline, title)
    print(f"\nwritten: {report} and {timeline}")
    return DemoResult(checks, rows, report, timeline)
