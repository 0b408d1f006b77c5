"""The replay: the clinic day's phases played through the API, then the day read back."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from demo.checks import FinalView
from demo.client import OpdClient, at_once, expect, in_parallel
from demo.day import (
    CANCELLATIONS,
    CLINIC_HOURS,
    DELAY,
    DOUBLE_CLICKS,
    EMERGENCIES,
    FIRST_HOUR,
    PAID_AND_FOLLOW_UP,
    RUSH,
    TIERS,
    WALK_INS,
    DayLog,
    Event,
    SlotPlan,
)

SWEEP_AFTER = timedelta(minutes=16)  # the default grace (15 min) has passed by then
DELAY_MINUTES = 40


# -- the replay ----------------------------------------------------------------------------------


@dataclass
class Clinic:
    """Who acts in the replay and what they hold."""

    api: OpdClient
    admin: str  # bearer tokens, one per role
    reception: str
    slots: list[SlotPlan]  # doctor by doctor, hour by hour
    log: DayLog
    seed: int
    patients: dict[str, str] = field(default_factory=dict)  # online patient -> their own token
    keys: dict[str, str] = field(default_factory=dict)  # online patient -> the Idempotency-Key of their booking
    waiting: dict[str, list[str]] = field(default_factory=dict)  # slot -> patients the rush refused, in order

    def rng(self, *names: object) -> random.Random:
        """Seeded per phase and slot, so rooms working side by side still draw the same."""
        return random.Random(":".join(str(n) for n in (self.seed, *names)))

    def doctors(self) -> dict[str, list[SlotPlan]]:
        by_doctor: dict[str, list[SlotPlan]] = {}
        for slot in self.slots:
            by_doctor.setdefault(slot.doctor_id, []).append(slot)
        return by_doctor

    def slot(self, slot_id: str) -> SlotPlan:
        return next(s for s in self.slots if s.slot_id == slot_id)

    def book(
        self, phase: str, slot: SlotPlan, patient: str, source: str, token: str | None = None, key: str | None = None
    ) -> Event:
        """Book as the patient (own token) or, by default, at the reception desk."""
        answer = self.api.book(token or self.reception, slot.slot_id, patient, source, key)
        return self.log.booked(phase, slot.slot_id, patient, source, answer, key)

    def move(self, phase: str, booking_id: str, action: str, token: str | None = None) -> Event:
        return self.log.moved(phase, booking_id, action, self.api.move(token or self.reception, booking_id, action))

    def each_room(
        self, work: Callable[[SlotPlan], list[Event]], slots: Sequence[SlotPlan] | None = None
    ) -> list[Event]:
        """Doctors' rooms work side by side; within a room, one slot after another."""

        def room(room_slots: list[SlotPlan]) -> list[Event]:
            return [event for slot in room_slots for event in work(slot)]

        rooms = [[s for s in room_slots if slots is None or s in slots] for room_slots in self.doctors().values()]
        return [event for events in in_parallel([partial(room, r) for r in rooms]) for event in events]


def summary(events: Sequence[Event]) -> str:
    """Counts of what was done and what was refused, and the 429s on the way."""
    done = Counter(e.action for e in events if e.ok)
    refused = Counter(str(e.code) for e in events if not e.ok)
    text = ", ".join(f"{n} {PAST.get(action, action)}" for action, n in done.items()) or "none accepted"
    if refused:
        text += "; refused: " + ", ".join(f"{code} {n}" for code, n in refused.most_common())
    busy = sum(e.busy for e in events)
    return text + (f"; {busy} × 429 retried after Retry-After" if busy else "")


PAST = {
    "book": "booked",
    "check-in": "checked in",
    "no-show": "marked no-show at the desk",
    "swept": "read back as NO_SHOW",
}
PAST |= {"cancel": "cancelled", "complete": "completed", "delay": "delays set"}


def morning_rush(c: Clinic) -> str:
    """Every online patient books at the same moment; a doctor's early slots are wanted most."""
    hours = len(c.slots) // len(c.doctors())
    weights = [1 / (index % hours + 1) ** 1.5 for index in range(len(c.slots))]
    patients = list(c.patients)
    wanted = c.rng("rush").choices(c.slots, weights, k=len(patients))
    for patient in patients:
        c.keys[patient] = uuid.uuid4().hex
    calls = [
        partial(c.book, RUSH, s, p, "ONLINE", c.patients[p], c.keys[p]) for p, s in zip(patients, wanted, strict=True)
    ]
    events = at_once(calls)
    c.log.settle_burst(RUSH)
    for event in sorted(events, key=lambda e: e.order):
        if event.code == "SLOT_FULL" and event.patient:
            c.waiting.setdefault(event.slot_id, []).append(event.patient)
    return f"{len(events)} online bookings at once: " + summary(events)


def double_clicks(c: Clinic) -> str:
    """A repeat with the same Idempotency-Key gets the first answer; a new request is a duplicate."""
    rush = [e for e in c.log.events if e.phase == RUSH and e.ok and e.patient]
    firsts = c.rng("double clicks").sample(rush, min(3, len(rush)))
    repeats, seconds = [], []
    for first in firsts:
        slot, patient = c.slot(first.slot_id), str(first.patient)
        repeats.append(c.book(DOUBLE_CLICKS, slot, patient, "ONLINE", c.patients[patient], c.keys[patient]))
        seconds.append(c.book(DOUBLE_CLICKS, slot, patient, "ONLINE", c.patients[patient]))
    same = sum(r.booking_id == f.booking_id and r.token == f.token for r, f in zip(repeats, firsts, strict=True))
    return f"{same} of {len(firsts)} repeats got the first booking back; second bookings: " + summary(seconds)


def cancellations(c: Clinic) -> str:
    """Online patients cancel; the next patient the rush refused takes the place at once."""

    def room(slot: SlotPlan) -> list[Event]:
        waiting = c.waiting.get(slot.slot_id, [])
        holders = [b for b in c.log.in_status(slot.slot_id, "BOOKED") if c.log.patient_of[b] in c.patients]
        events = []
        leaving = c.rng(CANCELLATIONS, slot.doctor_id, slot.label).sample(holders, min(2, len(holders), len(waiting)))
        for booking_id in leaving:
            own_token = c.patients[c.log.patient_of[booking_id]]
            events.append(c.move(CANCELLATIONS, booking_id, "cancel", own_token))
            if booking_id == leaving[0]:  # pressed twice: a booking is cancelled once
                events.append(c.move(CANCELLATIONS, booking_id, "cancel", own_token))
            patient = waiting.pop(0)
            events.append(c.book(CANCELLATIONS, slot, patient, "ONLINE", c.patients[patient], uuid.uuid4().hex))
        return events

    events = c.each_room(room)
    return "cancelled places re-booked at once by the next in line: " + summary(events)


def walk_ins(c: Clinic) -> str:
    def room(slot: SlotPlan) -> list[Event]:
        return [c.book(WALK_INS, slot, _patient("walkin", slot, n), "WALKIN") for n in range(3)]

    return "3 walk-ins per slot at the desk: " + summary(c.each_room(room))


def paid_and_follow_up(c: Clinic) -> str:
    def room(slot: SlotPlan) -> list[Event]:
        sources = ("PAID", "FOLLOWUP", "PAID", "FOLLOWUP")
        return [
            c.book(PAID_AND_FOLLOW_UP, slot, _patient(source.lower(), slot, n), source)
            for n, source in enumerate(sources)
        ]

    return "4 per slot, stretching past the standard limit: " + summary(c.each_room(room))


def doctor_delay(c: Clinic) -> str:
    """The last doctor runs late: limits shrink for new bookings, no booking is bumped."""
    doctor, slots = list(c.doctors().items())[-1]

    def room(slot: SlotPlan) -> list[Event]:
        delay = c.log.delayed(DELAY, slot.slot_id, c.api.set_delay(c.admin, slot.slot_id, True, DELAY_MINUTES))
        tries = [c.book(DELAY, slot, _patient(f"late-{s.lower()}", slot, 0), s) for s in ("WALKIN", "PAID")]
        return [delay, *tries]

    events = c.each_room(room, slots)
    limits = "/".join(str(c.log.limits[slots[0].slot_id][tier]) for tier in TIERS)
    tries = [e for e in events if e.action == "book"]
    return f"{doctor} {DELAY_MINUTES} min late, limits now {limits}, bookings kept; then " + summary(tries)


def emergencies(c: Clinic) -> str:
    def room(slot: SlotPlan) -> list[Event]:
        count = 4 if slot.start.hour == FIRST_HOUR else 2  # the first hour overflows
        return [c.book(EMERGENCIES, slot, _patient("emergency", slot, n), "EMERGENCY") for n in range(count)]

    return "into the emergency buffer: " + summary(c.each_room(room))


def clinic_hours(c: Clinic) -> str:
    """Hour by hour: arrivals check in, the sweeper marks no-shows, walk-ins take their places, doctors see patients."""
    hours = sorted({s.start for s in c.slots})
    events: list[Event] = []
    for start in hours:
        now = [s for s in c.slots if s.start == start]
        events += c.each_room(partial(_arrivals, c), now)
        marked = c.api.sweep(start + SWEEP_AFTER)
        swept = c.each_room(partial(_read_swept, c), now)
        c.log.sweeps.append((marked, sum(1 for e in swept if e.booking_status == "NO_SHOW")))
        events += swept + c.each_room(partial(_consultations, c, start == hours[-1]), now)
    marked = sum(m for m, _ in c.log.sweeps)
    told = f"start + {SWEEP_AFTER.seconds // 60} min"
    return f"{len(hours)} hours, the sweeper (told {told}) marked {marked} no-shows; " + summary(events)


def _arrivals(c: Clinic, slot: SlotPlan) -> list[Event]:
    """One patient phones to say they are not coming; most others arrive and check in."""
    booked = c.log.in_status(slot.slot_id, "BOOKED")
    rng = c.rng(CLINIC_HOURS, slot.doctor_id, slot.label)
    events = [c.move(CLINIC_HOURS, booked.pop(rng.randrange(len(booked))), "no-show")] if len(booked) > 3 else []
    arriving = rng.sample(booked, round(len(booked) * 0.8))
    return events + [c.move(CLINIC_HOURS, booking_id, "check-in") for booking_id in booked if booking_id in arriving]


def _read_swept(c: Clinic, slot: SlotPlan) -> list[Event]:
    """The sweep answers with a count only: read back each booking that should now be a no-show."""
    return [
        c.log.moved(CLINIC_HOURS, b, "swept", c.api.get_booking(c.reception, b))
        for b in c.log.in_status(slot.slot_id, "BOOKED")
    ]


def _consultations(c: Clinic, last_hour: bool, slot: SlotPlan) -> list[Event]:
    """Late walk-ins take freed places and check in; the doctor sees patients in call order."""
    events = []
    for n in range(2):
        walk_in = c.book(CLINIC_HOURS, slot, _patient("late-walkin", slot, n), "WALKIN")
        events.append(walk_in)
        if walk_in.ok and walk_in.booking_id:
            events.append(c.move(CLINIC_HOURS, walk_in.booking_id, "check-in"))
    queue = expect(c.api.queue(c.reception, slot.slot_id), "queue")["queue"]
    seen = [b["bookingId"] for b in queue if b["status"] == "CHECKED_IN"]
    if last_hour:  # the replay ends while the last hour's patients are still being seen
        seen = seen[: len(seen) // 2]
    return events + [c.move(CLINIC_HOURS, booking_id, "complete") for booking_id in seen]


def _patient(kind: str, slot: SlotPlan, n: int) -> str:
    return f"{kind}-{slot.doctor_id.removeprefix('dr-')}-{slot.start:%H%M}-{n}"


REPLAY: tuple[Callable[[Clinic], str], ...] = (
    morning_rush,
    double_clicks,
    cancellations,
    walk_ins,
    paid_and_follow_up,
    doctor_delay,
    emergencies,
    clinic_hours,
)


# -- reading the day back ------------------------------------------------------------------------


def read_back(c: Clinic, store: Callable[[str], dict[str, Any] | None] | None) -> dict[str, FinalView]:
    """Each slot, its queue and every booking the day made, from the API; the slot's document from the store."""

    def view(slot: SlotPlan) -> FinalView:
        read = expect(c.api.get_slot(slot.slot_id), f"slot {slot.slot_id}")
        queue = expect(c.api.queue(c.reception, slot.slot_id), f"queue of {slot.slot_id}")["queue"]
        bookings = {b: c.api.get_booking(c.reception, b).body for b in c.log.tokens(slot.slot_id)}
        return FinalView(read, queue, bookings, store(slot.slot_id) if store else None)

    return dict(zip([s.slot_id for s in c.slots], in_parallel([partial(view, s) for s in c.slots]), strict=True))
