"""`make seed`: a demo clinic day on a running local API: a few doctors with hourly slots, over HTTP.

Each doctor is recorded in the directory first (name, department, room, languages: PUT /doctors/{id}),
then their slots are made. Slots are today's in the clinic's time zone (CLINIC_TIME_ZONE, else the
template's default), from the clinic's opening to its closing hour; slots that have already started
are skipped. Running it again is fine: a record is replaced by the same one, and a slot that exists
already (409 SLOT_EXISTS) is left as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from demo.client import NO_ANSWER, ApiError, OpdClient, expect
from devserver import template as templates

REPO_ROOT = Path(__file__).resolve().parent.parent
# The directory's records of the seeded doctors, as PUT /doctors/{id} takes them.
DIRECTORY: dict[str, dict[str, Any]] = {
    "dr-asha": {"name": "Dr Asha Rao", "department": "General Medicine", "room": "OPD-1", "languages": ["en", "hi"]},
    "dr-bose": {"name": "Dr Anirban Bose", "department": "Paediatrics", "room": "OPD-4", "languages": ["en", "hi"]},
    "dr-chen": {"name": "Dr Mei Chen", "department": "Orthopaedics", "room": "OPD-7", "languages": ["en", "ta"]},
}
DOCTORS = tuple(DIRECTORY)
OPENS, CLOSES = 9, 17  # hourly slots from 09:00; the last one starts at 16:00


@dataclass(frozen=True)
class Planned:
    doctor_id: str
    start: datetime
    end: datetime


def clinic_zone() -> ZoneInfo:
    name = os.environ.get("CLINIC_TIME_ZONE")
    if not name:
        environment = templates.plain_environment(templates.load_template(REPO_ROOT / "template.yaml"))
        name = environment.get("CLINIC_TIME_ZONE", "UTC")
    return ZoneInfo(name)


def plan(day: date, zone: ZoneInfo, now: datetime, doctors: tuple[str, ...] = DOCTORS) -> list[Planned]:
    """Each doctor's hourly slots of `day`, leaving out those that have started by `now`."""
    starts = [datetime.combine(day, time(hour), tzinfo=zone) for hour in range(OPENS, CLOSES)]
    return [Planned(doctor, start, start + timedelta(hours=1)) for doctor in doctors for start in starts if start > now]


def seed(base_url: str, slots: list[Planned]) -> tuple[int, int]:
    """Record the slots' doctors, then create the slots; (created, already there). Raises on any other answer."""
    api = OpdClient(base_url)
    token = api.token("admin", "seed-admin")
    for doctor_id in dict.fromkeys(slot.doctor_id for slot in slots):  # each doctor once, in the plan's order
        record = DIRECTORY.get(doctor_id)
        if record is None:  # a doctor without a record still works: shown by their id
            continue
        expect(api.put_doctor(token, doctor_id, **record), f"PUT /doctors/{doctor_id}")
        print(f"  {doctor_id}  {record['name']}, {record['department']}, room {record['room']}")
    created = existing = 0
    for slot in slots:
        answer = api.create_slot(token, slot.doctor_id, slot.start, slot.end)
        hours = f"{slot.start:%H:%M}-{slot.end:%H:%M}"
        if answer.code == "SLOT_EXISTS":
            existing += 1
            print(f"  {slot.doctor_id}  {hours}  (exists)")
            continue
        made = expect(answer, f"POST /slots for {slot.doctor_id} at {slot.start.isoformat()}")
        created += 1
        print(f"  {slot.doctor_id}  {hours}  {made['slotId']}")
    return created, existing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
    parser.add_argument("--date", type=date.fromisoformat, help="the clinic day (default: today in its zone)")
    args = parser.parse_args(argv)
    zone = clinic_zone()
    now = datetime.now(zone)
    day = args.date or now.date()
    slots = plan(day, zone, now)
    if not slots:
        print(f"No slots left on {day} in {zone.key} (clinic hours {OPENS}:00-{CLOSES}:00): try --date YYYY-MM-DD")
        return 0
    print(f"Seeding {args.url}: {len(DOCTORS)} doctors, {day} ({zone.key})")
    try:
        created, existing = seed(args.url.rstrip("/"), slots)
    except ApiError as error:
        if error.answer.status != NO_ANSWER:
            raise
        print(f"Nothing answers at {args.url}: start the API first with `make serve`", file=sys.stderr)
        return 1
    print(f"{created} slots created, {existing} already there.")
    print(f"Try: curl '{args.url}/doctors' or '{args.url}/doctors/{DOCTORS[0]}/slots?date={day}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
