"""The day, start to end: a local stack, the doctors' sessions, the replay, the checks and the report."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from demo import counter
from demo.checks import Check, check_day
from demo.client import OpdClient, expect, in_parallel
from demo.counter import counter_checks
from demo.day import GRACE, TIERS, DayLog, Sessions, SlotPlan
from demo.metrics import day_tallies, emitted_metrics, metrics_check, metrics_figures, metrics_lines
from demo.replay import REPLAY, Clinic, read_back, settle_bus
from demo.report import day_figures, plot_timeline, report_text, slot_rows
from demo.reports import AFTER_THE_DAY, day_over, report_checks, report_lines
from demo.screens import Camera
from demo.seed import clinic_zone

DOCTORS = ("asha", "bose", "chen", "diaz", "eze", "fonseca", "gupta", "haddad", "ito", "jensen")
# Each doctor's name and department in the directory (PUT /doctors/{id}, before their sessions are opened).
PEOPLE = {
    "asha": ("Dr Asha Rao", "General Medicine"),
    "bose": ("Dr Anirban Bose", "Paediatrics"),
    "chen": ("Dr Mei Chen", "Orthopaedics"),
    "diaz": ("Dr Elena Díaz", "Dermatology"),
    "eze": ("Dr Chidi Eze", "Cardiology"),
    "fonseca": ("Dr Ana Fonseca", "ENT"),
    "gupta": ("Dr Priya Gupta", "Obstetrics and Gynaecology"),
    "haddad": ("Dr Omar Haddad", "Ophthalmology"),
    "ito": ("Dr Ken Ito", "General Medicine"),
    "jensen": ("Dr Lars Jensen", "Paediatrics"),
}
MORNING, AFTERNOON = 9, 13  # the sessions start at 09:00 and 13:00, clinic time; hourly slots


# -- the day, start to end -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    checks: list[Check]
    rows: list[dict[str, Any]]
    figures: dict[str, Any]
    report: Path
    timeline: Path
    screenshots: list[Path]

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
        print(f"[{self.seconds:5.1f}s] {phase:<15} {text}", flush=True)


def sessions_of(day: date, morning: int, afternoon: int) -> list[dict[str, Any]]:
    """A doctor's day as the admin opens it: a morning and an afternoon session of hourly slots."""
    shape = {"from": day.isoformat(), "to": day.isoformat(), "slotMinutes": 60}
    return [
        shape | {"start": f"{MORNING:02d}:00", "end": f"{MORNING + morning:02d}:00"},
        shape | {"start": f"{AFTERNOON:02d}:00", "end": f"{AFTERNOON + afternoon:02d}:00"},
    ]


def directory_record(n: int) -> dict[str, Any]:
    """The n-th doctor's record in the directory: a name and department, room OPD-<n + 1>, and languages."""
    name, department = PEOPLE[DOCTORS[n % len(DOCTORS)]]
    name += f" {n // len(DOCTORS) + 1}" if n >= len(DOCTORS) else ""
    languages = ["en", ("hi", "ta")[n % 2]]
    return {"name": name, "department": department, "room": f"OPD-{n + 1}", "languages": languages}


def open_clinic(
    api: OpdClient, day: date, zone: ZoneInfo, doctors: int, morning: int, afternoon: int, seed: int
) -> Clinic:
    """Tokens for the admin and the desk; each doctor recorded in the directory, then their sessions opened
    (and opened again, which adds nothing), then listed back (the slots, the directory, the board's name
    and room) to be sure."""
    admin, reception = api.token("admin", "demo-admin"), api.token("reception", "demo-desk")
    names = [
        f"dr-{DOCTORS[n % len(DOCTORS)]}" + (f"{n // len(DOCTORS)}" if n >= len(DOCTORS) else "")
        for n in range(doctors)
    ]
    records = {doctor_id: directory_record(n) for n, doctor_id in enumerate(names)}

    def doctor_day(doctor_id: str) -> tuple[list[Sessions], list[dict[str, Any]]]:
        expect(api.put_doctor(admin, doctor_id, **records[doctor_id]), f"PUT /doctors/{doctor_id}")
        opened, made = [], []
        for session in sessions_of(day, morning, afternoon):
            first = expect(api.open_sessions(admin, doctor_id, session), f"sessions of {doctor_id}")
            again = expect(api.open_sessions(admin, doctor_id, session), f"sessions of {doctor_id} again")
            made += first["created"]
            opened.append(
                Sessions(
                    doctor_id,
                    session,
                    len(first["created"]),
                    len(first["existing"]),
                    len(again["created"]),
                    len(again["existing"]),
                )
            )
        listed = expect(api.doctor_slots(doctor_id, day.isoformat()), "list slots")["slots"]
        if [s["slotId"] for s in listed] != [s["slotId"] for s in made]:
            raise RuntimeError(f"GET /doctors/{doctor_id}/slots lists {listed}, not the slots just made")
        board = expect(api.board(doctor_id, day.isoformat()), "board")
        shown = {"name": board["doctorName"], "room": board["room"]}
        if shown != {key: records[doctor_id][key] for key in shown}:
            raise RuntimeError(f"the board of {doctor_id} shows {shown}, not the directory's {records[doctor_id]}")
        return opened, made

    days = in_parallel([partial(doctor_day, name) for name in names])
    directory = expect(api.doctors(), "the doctor directory")["doctors"]
    expected = sorted(({"doctorId": d} | records[d] for d in names), key=lambda r: (r["department"], r["name"]))
    if directory != expected:
        raise RuntimeError(f"GET /doctors lists {directory}, not {expected} by department then name")
    slots = [
        SlotPlan(s["doctorId"], s["slotId"], _local(s["start"], zone), _local(s["end"], zone))
        for _, made in days
        for s in made
    ]
    log = DayLog(slots, {s["slotId"]: s["limits"] for _, made in days for s in made}, no_show_grace())
    log.sessions = [opened for sessions, _ in days for opened in sessions]
    clinic = Clinic(api, admin, reception, slots, log, seed, day)
    clinic.morning = sorted({s.start for s in slots if s.start.hour < AFTERNOON})
    return clinic


def _local(text: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)


def no_show_grace() -> timedelta:
    """The local stack's NO_SHOW_GRACE_MINUTES: this environment's, which the stack takes over the template's
    default (the contract's 15 minutes, demo.day.GRACE)."""
    minutes = os.environ.get("NO_SHOW_GRACE_MINUTES")
    return timedelta(minutes=int(minutes)) if minutes else GRACE


# The SMS spend limit of the demo's stack, unless this environment gives one. The day sends ~770 SMS parts (a Hindi
# or Tamil SMS is UCS-2, two or three parts with its link), and sign-in codes may use only half of the month's limit
# (SIGN_IN_SMS_SHARE_PERCENT): the template's default, $10 (1,000 parts at $0.01), is a new deployment's safe start,
# not a clinic's month, and would refuse the codes asked for late in the day.
DEMO_SMS_LIMIT_USD = "100"


@contextmanager
def local_stack(database: str) -> Iterator[tuple[str, Callable[[str], dict[str, Any] | None]]]:
    """The local runner in this process, on its own servers and a throwaway data directory."""
    from pymongo import MongoClient

    from devserver.runner import start_stack

    limit = os.environ.get("SMS_MONTHLY_SPEND_LIMIT_USD") or DEMO_SMS_LIMIT_USD
    with (
        mock.patch.dict(os.environ, {"SMS_MONTHLY_SPEND_LIMIT_USD": limit}),  # the stack's functions read it
        tempfile.TemporaryDirectory(prefix="opd-demo-") as data,
        start_stack(port=0, data_dir=Path(data), auth=True, persist=False, database=database) as stack,
    ):
        mongo: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, tz_aware=True)
        slots, archive = mongo[stack.database]["slots"], mongo[stack.database]["archived_bookings"]

        def stored(slot_id: str) -> dict[str, Any] | None:
            """The slot's document, its finished bookings that went to the archive put back (each once)."""
            doc = slots.find_one({"_id": slot_id})
            if doc is not None:
                kept = {b["bookingId"] for b in doc["bookings"]}
                doc["bookings"] += [b for b in archive.find({"slotId": slot_id}) if b["bookingId"] not in kept]
            return doc

        try:
            yield stack.url, stored
        finally:
            mongo.close()


def patient_followed(clinic: Clinic, slot_id: str) -> tuple[str, str] | None:
    """(phone, status code) of an online patient still waiting in the slot: the one who follows their place
    (`clinic.watching`) if they still wait, else the first who does."""
    watched = clinic.watching.get(slot_id)
    for booking_id in [*([watched] if watched else []), *clinic.log.bookings(slot_id)]:
        patient = clinic.log.patient_of.get(booking_id, "")
        if patient in clinic.patients and patient in clinic.phones:
            answer = clinic.api.get_booking(clinic.patients[patient], booking_id)
            if answer.ok and answer.body.get("status") in ("BOOKED", "CHECKED_IN") and answer.body.get("statusCode"):
                return clinic.phones[patient], str(answer.body["statusCode"])
    return None


def newer_code(clinic: Clinic, phone: str, before: str | None, limit_s: float = 10.0) -> str:
    """The sign-in code sent to `phone` after `before` (the local SNS's record may lag its send a moment)."""
    deadline = time.monotonic() + limit_s
    while (code := clinic.api.sign_in_codes().get(phone)) in (None, before) and time.monotonic() < deadline:
        time.sleep(0.2)
    if code is None or code == before:
        raise RuntimeError("no new sign-in code reached the followed patient's phone")
    return code


def pictures(camera: Camera, clinic: Clinic, out: Path, shots: list[Path]) -> Callable[[str, datetime], str]:
    """What the day photographs: at the busy moment the board (`?lang=hi,en`: as it shows Hindi, then English)
    and the desk (the late doctor's slot, its queue waiting), and an online patient of that slot's app (then in
    Hindi) and status page (then in Tamil); in the afternoon the board again (a doctor on leave)."""

    def moment(name: str, at: datetime) -> str:
        doctors = list(clinic.doctors())
        day = clinic.day.isoformat()
        began = time.perf_counter()
        if name == "busy":
            late = next(
                (s for s in clinic.slots if s.doctor_id == clinic.doctor(2) and s.start <= at < s.end), clinic.slots[0]
            )
            taken = [
                *camera.board(doctors, day, at, out / "board.png", hindi=out / "board-hi.png"),
                camera.desk(late.doctor_id, day, late.slot_id, at, out / "desk.png"),
            ]
            followed = patient_followed(clinic, late.slot_id)
            if followed is not None:  # an online patient waiting: their app, and their booking's status link
                phone, code = followed
                before = clinic.api.sign_in_codes().get(phone)  # the code they signed in with this morning

                def code_of(number: str) -> str:  # a newer code than this morning's
                    return newer_code(clinic, number, before)

                taken += camera.app(phone, code_of, at, out / "app.png", hindi=out / "app-hi.png")
                taken += camera.status(code, at, out / "status.png", tamil=out / "status-ta.png")
        elif name == "counter":
            taken = [camera.counter_board(doctors, [counter.COUNTER], out / "board-counter.png")]
        elif name == "slip":
            taken = [camera.slip(clinic.counter.bookings[0], out / "slip.png")]
        else:
            taken = camera.board(doctors, day, at, out / "board-afternoon.png")
        shots.extend(taken)
        return f"pictures at {at:%H:%M}: {', '.join(p.name for p in taken)} ({time.perf_counter() - began:.1f} s)"

    return moment


def run_demo(
    doctors: int = 3,
    morning: int = 3,
    afternoon: int = 2,
    rush: int = 240,
    seed: int = 7,
    out: Path = Path("demo-output"),
    screenshots: bool = True,
) -> DemoResult:
    progress = Progress()
    zone = clinic_zone()
    day = (datetime.now(zone) + timedelta(days=1)).date()  # tomorrow: every slot is still open
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with local_stack(f"opd_demo_{uuid.uuid4().hex[:8]}") as (url, store), Camera(url, zone.key) as camera:
        api = OpdClient(url)
        progress.say("local stack", f"{url} (own Redis, MongoDB-wire store, Cognito, Lambda environments, bus, SNS)")
        clinic = open_clinic(api, day, zone, doctors, morning, afternoon, seed)
        clinic.say = progress.say
        if screenshots:
            clinic.moment = pictures(camera, clinic, out, shots)
        made = sum(s.created for s in clinic.log.sessions)
        existed = sum(s.repeat_existing for s in clinic.log.sessions)
        limits = "/".join(str(clinic.log.limits[clinic.slots[0].slot_id][tier]) for tier in TIERS)
        progress.say(
            "sessions",
            f"{doctors} doctors (each in the directory, named on their board), "
            f"{MORNING:02d}:00-{MORNING + morning:02d}:00 and {AFTERNOON:02d}:00-"
            f"{AFTERNOON + afternoon:02d}:00 on {day} ({zone.key}): {made} slots created, "
            f"{sum(s.existing for s in clinic.log.sessions)} existed; the same requests again: "
            f"{sum(s.repeat_created for s in clinic.log.sessions)} created, {existed} existed; tier limits {limits}",
        )
        # Returning patients: in the register from an earlier visit with their mobile, each signs in to the app by
        # phone and code, and so as the patient the desk registered.
        ids = in_parallel([partial(clinic.register, f"pt-{n:04d}", app_user=True) for n in range(1, rush + 1)], 4)
        clinic.patients = clinic.sign_in_by_phone(ids)
        progress.say(
            "patients",
            f"{rush} online patients, registered by name, signed in by phone (a code by SMS each), "
            "each to their own record, with their own token",
        )
        phases = []
        for phase, play in REPLAY:
            text = play(clinic)
            phases.append({"phase": phase, "summary": text, "seconds": round(progress.seconds, 1)})
            progress.say(phase, text)
        day_reports = day_over(clinic)
        if screenshots:  # the admin's reports page over the week to the demo's day
            week = f"{clinic.day - timedelta(days=6)}"
            shots.append(camera.reports(week, clinic.day.isoformat(), out / "reports.png"))
        progress.say(
            "the day's report",
            f"the sweeper told {max(s.end for s in clinic.slots) + AFTER_THE_DAY:%H:%M}: "
            f"{len(day_reports)} doctors' day reports (GET /reports/daily)",
        )
        published = settle_bus(clinic)
        progress.say("bus and SMS", f"{len(published.events)} events delivered, {len(published.sms)} SMS sent")
        finals = read_back(clinic, store)
        checks = check_day(clinic.log, finals, published)
        if clinic.counter is not None:
            checks.append(counter_checks(clinic.counter))
        checks.append(report_checks(clinic, day_reports))
        tallies = day_tallies(clinic, published)  # the functions' metrics beside the day's own counts (issue 24)
        emitted = emitted_metrics(api, tallies)
        checks.append(metrics_check(tallies, emitted))
        bookings = sum(len(f.bookings) for f in finals.values())
        progress.say("read back", f"{len(finals)} slots, queues, waitlists, {bookings} bookings, the store's documents")

    rows = slot_rows(clinic.log, finals, published)
    figures = day_figures(clinic.log, finals, published, zone) | {"scenes": clinic.scene}
    if clinic.counter is not None:
        figures["counter"] = clinic.counter.figures()
    figures["dayReports"] = day_reports
    figures["metrics"] = metrics_figures(tallies, emitted)
    print()
    print(f"Clinic day {day} ({zone.key}), replayed {datetime.now(zone):%Y-%m-%d %H:%M} in {progress.seconds:.0f} s")
    print(report_text(rows, checks, figures))
    print(
        "\nThe day's reports (GET /reports/daily; waits and consultations in minutes, median/p90). The replay plays "
        "tomorrow's day today, an hour in seconds, and the service stamps each change with its real clock: so its "
        "waits read 0 and its first calls a day early here; places, consultations, no-shows and SMS are the day's."
    )
    print("\n".join(f"  {line}" for line in report_lines(day_reports)))
    print("\nThe functions' metrics (GET /_local/metrics: their EMF lines) beside the day's own counts:")
    print("\n".join(f"  {line}" for line in metrics_lines(tallies, emitted)))
    report, timeline = out / "report.json", out / "timeline.png"
    document = {
        "clinicDay": day.isoformat(),
        "timeZone": zone.key,
        "doctors": doctors,
        "sessions": [s["request"] for s in figures["sessions"]["requests"][:2]],
        "rushPatients": rush,
        "seed": seed,
        "seconds": round(progress.seconds, 1),
        "phases": phases,
        "figures": figures,
        "slots": rows,
        "invariants": [{"name": c.name, "ok": c.ok, "checked": c.checked, "problems": c.problems} for c in checks],
        "screenshots": [str(p) for p in shots],
        "answers": [asdict(e) for e in clinic.log.events],
    }
    report.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    title = f"Clinic day {day} ({zone.key}): each slot's places held against its tier limits"
    plot_timeline(clinic.log, timeline, title)
    written = ", ".join(str(p) for p in [report, timeline, *shots])
    print(f"\nwritten: {written}")
    return DemoResult(checks, rows, figures, report, timeline, shots)
