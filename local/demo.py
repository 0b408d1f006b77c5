"""`make demo`: a clinic day replayed through the HTTP API of a local stack, then checked.

The day runs in real time, compressed: its slots are tomorrow (UTC), so they are open whatever the
wall clock says, and the no-show sweeper is told the time it would run at (start + grace + 1 min).
Every answer is kept; at the end the slots, their queues, every booking and the store's documents
are read back and the invariants are checked. Output: a report on stdout, and under demo-output/
a JSON report and a PNG timeline of each slot's active bookings against its tier limits.
The exit status is 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any

from local.client import Answer, OpdClient, at_once, expect, in_parallel

# The contract's words, written out here rather than imported from the service: the demo checks
# the service against the contract, so it must not share the service's mistakes.
TIER_OF_SOURCE = {
    "ONLINE": "STANDARD",
    "WALKIN": "STANDARD",
    "PAID": "PREMIUM",
    "FOLLOWUP": "PREMIUM",
    "EMERGENCY": "CRITICAL",
}
TIERS = ("STANDARD", "PREMIUM", "CRITICAL")
ACTIVE = frozenset({"BOOKED", "CHECKED_IN"})
CONTRACT_CODES = frozenset(
    {
        "VALIDATION_ERROR",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "SLOT_FULL",
        "DUPLICATE_BOOKING",
        "INVALID_TRANSITION",
        "SLOT_EXISTS",
        "IDEMPOTENCY_CONFLICT",
        "SLOT_CLOSED",
        "SLOT_BUSY",
    }
)

DOCTORS = ("asha", "bose", "chen", "diaz", "eze", "fonseca", "gupta", "haddad", "ito", "jensen")
FIRST_HOUR = 9  # the clinic opens at 09:00 UTC
SWEEP_AFTER = timedelta(minutes=16)  # the default grace (15 min) has passed by then
DELAY_MINUTES = 40
PHASES = (
    "morning rush",
    "double clicks",
    "cancellations",
    "walk-ins",
    "paid & follow-up",
    "doctor delay",
    "emergencies",
    "clinic hours",
)
RUSH, DOUBLE_CLICKS, CANCELLATIONS, WALK_INS, PAID_AND_FOLLOW_UP, DELAY, EMERGENCIES, CLINIC_HOURS = PHASES
OUTPUT = Path("demo-output")


# -- what happened -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotPlan:
    doctor_id: str
    slot_id: str
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}"


@dataclass(frozen=True)
class Event:
    """One answer of the API about one slot."""

    order: int  # place in the slot's history; a burst's bookings are put in token order
    phase: str
    slot_id: str
    action: str  # book, cancel, check-in, no-show, complete, swept, delay
    status: int  # the final HTTP status
    code: str | None = None  # the contract's error code of a refusal
    source: str | None = None
    patient: str | None = None
    key: str | None = None  # the request's Idempotency-Key
    booking_id: str | None = None
    token: int | None = None
    booking_status: str | None = None  # the booking's status in the answer
    limits: dict[str, int] = field(default_factory=dict)  # the slot's tier limits at that moment
    booked: int | None = None  # the slot's count, where the answer is a slot
    busy: int = 0  # 429 answers on the way to this one
    details: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def tier(self) -> str | None:
        return TIER_OF_SOURCE.get(self.source or "")


@dataclass(frozen=True)
class Point:
    event: Event
    before: int  # active bookings of the slot before this answer
    after: int


class DayLog:
    """Every answer of the day, thread-safe, in the order the slots took them."""

    def __init__(self, slots: Sequence[SlotPlan], limits: dict[str, dict[str, int]]) -> None:
        self.slots = list(slots)
        self.initial_limits = {slot_id: dict(tiers) for slot_id, tiers in limits.items()}
        self.limits = {slot_id: dict(tiers) for slot_id, tiers in limits.items()}
        self.events: list[Event] = []
        self.sweeps: list[tuple[int, int]] = []  # (bookings the sweeper marked, no-shows the demo found)
        self.slot_of_booking: dict[str, str] = {}
        self.patient_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def _add(self, slot_id: str, **fields: Any) -> Event:
        with self._lock:
            event = Event(len(self.events), slot_id=slot_id, limits=dict(self.limits[slot_id]), **fields)
            self.events.append(event)
            return event

    def _answer(self, answer: Answer) -> dict[str, Any]:
        return {"status": answer.status, "code": answer.code, "busy": answer.busy, "details": tuple(answer.details)}

    def booked(
        self, phase: str, slot_id: str, patient: str, source: str, answer: Answer, key: str | None = None
    ) -> Event:
        body = answer.body if answer.ok else {}
        if answer.ok:
            with self._lock:
                self.slot_of_booking[str(body["bookingId"])] = slot_id
                self.patient_of[str(body["bookingId"])] = patient
        return self._add(
            slot_id,
            phase=phase,
            action="book",
            source=source,
            patient=patient,
            key=key,
            booking_id=body.get("bookingId"),
            token=body.get("token"),
            booking_status=body.get("status"),
            **self._answer(answer),
        )

    def moved(self, phase: str, booking_id: str, action: str, answer: Answer) -> Event:
        body = answer.body if answer.ok else {}
        return self._add(
            self.slot_of_booking[booking_id],
            phase=phase,
            action=action,
            booking_id=booking_id,
            token=body.get("token"),
            booking_status=body.get("status"),
            **self._answer(answer),
        )

    def delayed(self, phase: str, slot_id: str, answer: Answer) -> Event:
        if answer.ok:
            with self._lock:
                self.limits[slot_id] = dict(answer.body["limits"])
        booked = answer.body.get("booked") if answer.ok else None
        return self._add(slot_id, phase=phase, action="delay", booked=booked, **self._answer(answer))

    def settle_burst(self, phase: str) -> None:
        """Answers of a burst arrive in any order; the tokens tell the order each slot took them."""
        with self._lock:
            for slot in self.slots:
                taken = [e for e in self.events if e.phase == phase and e.slot_id == slot.slot_id and e.ok]
                places = sorted(e.order for e in taken)
                for place, event in zip(places, sorted(taken, key=lambda e: e.token or 0), strict=True):
                    self.events[event.order] = replace(event, order=place)
            self.events.sort(key=lambda e: e.order)

    def slot_events(self, slot_id: str) -> list[Event]:
        with self._lock:  # rooms append while others read
            return [e for e in self.events if e.slot_id == slot_id]

    def history(self, slot_id: str) -> list[Point]:
        """The slot's active bookings after each answer, as the answers tell it."""
        return self._replay(slot_id)[0]

    def statuses(self, slot_id: str) -> dict[str, str]:
        """Each booking's status per the latest answer about it."""
        return self._replay(slot_id)[1]

    def _replay(self, slot_id: str) -> tuple[list[Point], dict[str, str]]:
        status: dict[str, str] = {}
        active = 0
        points = []
        for event in self.slot_events(slot_id):
            before = active
            repeat = event.action == "book" and event.booking_id in status  # answered from memory: no change
            if event.ok and event.booking_id and event.booking_status and not repeat:
                active += (event.booking_status in ACTIVE) - (status.get(event.booking_id) in ACTIVE)
                status[event.booking_id] = event.booking_status
            points.append(Point(event, before, active))
        return points, status

    def in_status(self, slot_id: str, status: str) -> list[str]:
        """Bookings of the slot in `status`, by token."""
        tokens = self.tokens(slot_id)
        return sorted((b for b, s in self.statuses(slot_id).items() if s == status), key=lambda b: tokens[b])

    def tokens(self, slot_id: str) -> dict[str, int]:
        return {
            e.booking_id: e.token
            for e in self.slot_events(slot_id)
            if e.action == "book" and e.ok and e.booking_id and e.token is not None
        }


# -- the invariants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalView:
    """What the API, and the store, say about one slot once the day is over."""

    slot: dict[str, Any]  # GET /slots/{id}
    queue: list[dict[str, Any]]  # GET /slots/{id}/queue, its "queue"
    bookings: dict[str, dict[str, Any]]  # GET /bookings/{id} of every booking the day made there
    store: dict[str, Any] | None = None  # the slots collection's document, when the store was read


@dataclass(frozen=True)
class Check:
    name: str
    checked: str  # what was looked at
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_day(log: DayLog, finals: dict[str, FinalView]) -> list[Check]:
    return [
        no_slot_over_a_limit(log, finals),
        tokens_unique(log, finals),
        counts_match(log, finals),
        repeats_get_the_first_answer(log),
        every_answer_from_the_contract(log),
    ]


def no_slot_over_a_limit(log: DayLog, finals: dict[str, FinalView]) -> Check:
    problems = []
    booked = refused = 0
    for slot in log.slots:
        for point in log.history(slot.slot_id):
            event = point.event
            if point.after > point.before and event.action == "book" and event.tier:
                booked += 1
                if point.before >= event.limits[event.tier]:
                    problems.append(
                        f"{slot.doctor_id} {slot.label}: token {event.token} ({event.tier}) booked with "
                        f"{point.before} active, limit {event.limits[event.tier]}"
                    )
            if point.after > event.limits["CRITICAL"]:
                problems.append(f"{slot.doctor_id} {slot.label}: {point.after} active, over every limit")
            if event.code == "SLOT_FULL":
                refused += 1
                problems.extend(_unjustified_refusal(slot, event))
        final = finals[slot.slot_id]
        for where, count in (("API", final.slot["booked"]), ("store", (final.store or {}).get("booked", 0))):
            if count > final.slot["limits"]["CRITICAL"]:
                problems.append(f"{slot.doctor_id} {slot.label}: the {where} counts {count}, over every limit")
    checked = f"{booked} bookings and {refused} SLOT_FULL refusals against the limits of their moment"
    return Check("no slot over a limit", checked, problems)


def _unjustified_refusal(slot: SlotPlan, event: Event) -> list[str]:
    """A SLOT_FULL must name the tier's limit of that moment and a count at or above it."""
    detail = event.details[0] if event.details else {}
    if detail.get("tier") != event.tier or detail.get("limit") != event.limits.get(event.tier or ""):
        return [f"{slot.doctor_id} {slot.label}: SLOT_FULL for {event.tier} with details {detail}"]
    if detail.get("booked", -1) < detail["limit"]:
        return [f"{slot.doctor_id} {slot.label}: SLOT_FULL with room left: {detail}"]
    return []


def tokens_unique(log: DayLog, finals: dict[str, FinalView]) -> Check:
    problems = []
    total = 0
    for slot in log.slots:
        where = f"{slot.doctor_id} {slot.label}"
        tokens = log.tokens(slot.slot_id)
        for event in log.slot_events(slot.slot_id):
            if event.action == "book" and event.ok and tokens.get(event.booking_id or "") != event.token:
                problems.append(f"{where}: booking {event.booking_id} answered with two tokens")
        numbers = sorted(tokens.values())
        total += len(numbers)
        if len(set(numbers)) != len(numbers):
            problems.append(f"{where}: repeated tokens {sorted(n for n, c in Counter(numbers).items() if c > 1)}")
        elif numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"{where}: tokens are not 1..{len(numbers)}: {numbers}")
        final = finals[slot.slot_id]
        queued = [b["token"] for b in final.queue]
        if len(set(queued)) != len(queued):
            problems.append(f"{where}: the queue repeats a token: {queued}")
        for booking_id, booking in final.bookings.items():
            if booking.get("token") != tokens.get(booking_id):
                problems.append(
                    f"{where}: {booking_id} reads token {booking.get('token')}, was {tokens.get(booking_id)}"
                )
        if final.store is not None:
            stored = {b["bookingId"]: b["token"] for b in final.store["bookings"]}
            if len(set(stored.values())) != len(stored) or stored != tokens:
                problems.append(f"{where}: the store's tokens differ from the answers: {stored} vs {tokens}")
    return Check("tokens unique", f"{total} tokens in {len(log.slots)} slots", problems)


def counts_match(log: DayLog, finals: dict[str, FinalView]) -> Check:
    problems = []
    for slot in log.slots:
        where = f"{slot.doctor_id} {slot.label}"
        final = finals[slot.slot_id]
        believed = log.statuses(slot.slot_id)
        active = {b for b, s in believed.items() if s in ACTIVE}
        counts = {
            "the answers": len(active),
            "GET /slots": final.slot["booked"],
            "the queue": len(final.queue),
            "GET /bookings": sum(1 for b in final.bookings.values() if b.get("status") in ACTIVE),
        }
        if final.store is not None:
            counts["the store's count"] = final.store["booked"]
            counts["the store's bookings"] = sum(1 for b in final.store["bookings"] if b["status"] in ACTIVE)
        if len(set(counts.values())) != 1:
            problems.append(f"{where}: active bookings disagree: {counts}")
        if {b["bookingId"] for b in final.queue} != active:
            problems.append(f"{where}: the queue holds other bookings than the active ones")
        for booking_id, status in believed.items():
            read = final.bookings.get(booking_id, {}).get("status")
            if read != status:
                problems.append(f"{where}: {booking_id} reads {read}, its last answer said {status}")
        for point in log.history(slot.slot_id):
            if point.event.booked is not None and point.event.booked != point.after:
                problems.append(
                    f"{where}: the {point.event.action} answer counts {point.event.booked}, not {point.after}"
                )
    for marked, found in log.sweeps:
        if marked != found:
            problems.append(f"the sweeper marked {marked} no-shows, the bookings show {found}")
    bookings = sum(len(f.bookings) for f in finals.values())
    store = "the store, " if all(f.store is not None for f in finals.values()) else ""
    return Check(
        "each slot's count equals its active bookings",
        f"{len(log.slots)} slots: answers, GET /slots, queues, {store}{bookings} bookings read back",
        problems,
    )


def repeats_get_the_first_answer(log: DayLog) -> Check:
    """The contract: a repeat with the same Idempotency-Key gets the same status, bookingId and token."""
    firsts: dict[tuple[str | None, str], Event] = {}
    problems = []
    repeats = 0
    for event in sorted(log.events, key=lambda e: e.order):
        if event.action != "book" or event.key is None:
            continue
        first = firsts.setdefault((event.patient, event.key), event)
        if first is event:
            continue
        repeats += 1
        if (event.status, event.booking_id, event.token) != (first.status, first.booking_id, first.token):
            problems.append(
                f"{event.patient}: a repeat got {event.status} {event.code or event.booking_id}, "
                f"the first answer was {first.status} {first.code or first.booking_id} token {first.token}"
            )
    return Check("repeats get the first answer", f"{repeats} repeated Idempotency-Keys", problems)


def every_answer_from_the_contract(log: DayLog) -> Check:
    problems = [
        f"{e.phase}: {e.action} got {e.status} {e.code}"
        for e in log.events
        if not e.ok and (e.status == 0 or e.status >= 500 or e.code not in CONTRACT_CODES)
    ]
    return Check("every answer from the contract", f"{len(log.events)} answers, no 5xx, no lost answer", problems)


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


# -- the report ----------------------------------------------------------------------------------


def slot_rows(log: DayLog, finals: dict[str, FinalView]) -> list[dict[str, Any]]:
    """Per doctor and slot: bookings by tier, tokens, where the bookings ended, refusals by reason, 429s."""
    rows = []
    for slot in log.slots:
        events = log.slot_events(slot.slot_id)
        firsts = {e.booking_id: e for e in reversed(events) if e.action == "book" and e.ok}
        tokens = sorted(log.tokens(slot.slot_id).values())
        statuses = Counter(log.statuses(slot.slot_id).values())
        rows.append(
            {
                "doctor": slot.doctor_id,
                "slot": slot.label,
                "slotId": slot.slot_id,
                "delayed": bool(finals[slot.slot_id].slot.get("delayed")),
                "bookedByTier": {tier: sum(1 for e in firsts.values() if e.tier == tier) for tier in TIERS},
                "tokens": f"{tokens[0]}-{tokens[-1]}" if tokens else "-",
                "active": statuses["BOOKED"] + statuses["CHECKED_IN"],
                "cancelled": statuses["CANCELLED"],
                "noShow": statuses["NO_SHOW"],
                "completed": statuses["COMPLETED"],
                "refused": dict(Counter(str(e.code) for e in events if not e.ok).most_common()),
                "busy429": sum(e.busy for e in events),
            }
        )
    return rows


def report_text(rows: list[dict[str, Any]], checks: list[Check]) -> str:
    over = f"{'':<25}{'bookings made':^14}  {'':<7}{'bookings now':^28}"
    header = (
        f"{'doctor':<11}{'slot':<7}{'delay':<7}{'STD':>4}{'PREM':>5}{'CRIT':>5}  {'tokens':<7}"
        f"{'active':>7}{'cancel':>7}{'no-show':>8}{'done':>6}{'429s':>6}  refused by reason"
    )
    lines = [over, header, "-" * len(header)]
    for row in rows:
        tiers = row["bookedByTier"]
        refused = ", ".join(f"{code} {n}" for code, n in row["refused"].items()) or "-"
        lines.append(
            f"{row['doctor']:<11}{row['slot']:<7}{'yes' if row['delayed'] else '-':<7}"
            f"{tiers['STANDARD']:>4}{tiers['PREMIUM']:>5}{tiers['CRITICAL']:>5}  {row['tokens']:<7}"
            f"{row['active']:>7}{row['cancelled']:>7}{row['noShow']:>8}{row['completed']:>6}{row['busy429']:>6}"
            f"  {refused}"
        )
    refused_total: Counter[str] = Counter()
    for row in rows:
        refused_total.update(row["refused"])
    booked = sum(sum(row["bookedByTier"].values()) for row in rows)
    busy = sum(row["busy429"] for row in rows)
    lines.append("-" * len(header))
    lines.append(f"all slots: {booked} bookings, {sum(refused_total.values())} refusals, {busy} × 429")
    lines.append("")
    lines.append("Invariants")
    for check in checks:
        lines.append(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}: {check.checked}")
        lines.extend(f"        - {problem}" for problem in check.problems[:10])
        if len(check.problems) > 10:
            lines.append(f"        ... and {len(check.problems) - 10} more")
    return "\n".join(lines)


TIER_COLOURS = {"STANDARD": "tab:blue", "PREMIUM": "tab:orange", "CRITICAL": "tab:red"}
MARKERS = {  # places freed, marked on the line: action -> (marker, colour, legend)
    "cancel": ("x", "tab:brown", "cancelled"),
    "no-show": ("v", "tab:gray", "no-show (desk)"),
    "swept": ("v", "tab:purple", "no-show (sweeper)"),
}
PHASE_COLOURS = dict(
    zip(PHASES, ("#dbe9f6", "#f2f2f2", "#fde2cf", "#e3f1dc", "#fff2b3", "#f6d5e5", "#f9d0d0", "#e6e6e6"), strict=True)
)


def plot_timeline(log: DayLog, path: Path, title: str) -> None:
    """One panel per slot: active bookings after each change, against the tier limits of that moment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    doctors: dict[str, list[SlotPlan]] = {}
    for slot in log.slots:
        doctors.setdefault(slot.doctor_id, []).append(slot)
    rows, cols = len(doctors), max(len(slots) for slots in doctors.values())
    figure, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows + 1.4), squeeze=False, sharey=True)
    top = max(limits["CRITICAL"] for limits in log.initial_limits.values()) + 2
    for row, slots in enumerate(doctors.values()):
        for col, slot in enumerate(slots):
            _plot_slot(axes[row][col], log, slot, top)
            axes[row][col].set_ylabel("active bookings" if col == 0 else "")
            axes[row][col].set_xlabel("the slot's changes, in order" if row == rows - 1 else "")
    lines = [Line2D([], [], color="black", linewidth=2, label="active bookings")]
    lines += [Line2D([], [], color=c, linestyle="--", label=f"{t} limit") for t, c in TIER_COLOURS.items()]
    lines += [Line2D([], [], color=c, marker=m, linestyle="", label=label) for m, c, label in MARKERS.values()]
    shown = {p.event.phase for slot in log.slots for p in _plotted(log, slot)}
    shades = [Patch(facecolor=c, label=p) for p, c in PHASE_COLOURS.items() if p in shown]
    figure.legend(handles=lines + shades, loc="lower center", ncol=8, fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.09 if rows < 3 else 0.06, 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plotted(log: DayLog, slot: SlotPlan) -> list[Point]:
    """The slot's changes: of its active bookings, or of its limits."""
    return [p for p in log.history(slot.slot_id) if p.after != p.before or p.event.action == "delay"]


def _plot_slot(axis: Any, log: DayLog, slot: SlotPlan, top: int) -> None:
    points = _plotted(log, slot)
    # Step plots hold each value until the next change; the last one is held for one more step.
    occupancy = [0, *(p.after for p in points)]
    limits = [log.initial_limits[slot.slot_id], *(p.event.limits for p in points)]
    occupancy.append(occupancy[-1])
    limits.append(limits[-1])
    x = range(len(occupancy))
    at = 1
    for phase, group in groupby(points, key=lambda p: p.event.phase):
        count = len(list(group))
        axis.axvspan(at, at + count, color=PHASE_COLOURS.get(phase, "white"), linewidth=0)
        at += count
    for tier, colour in TIER_COLOURS.items():
        axis.step(x, [limit[tier] for limit in limits], where="post", color=colour, linestyle="--", linewidth=1.2)
    axis.step(x, occupancy, where="post", color="black", linewidth=2)
    for index, point in enumerate(points, start=1):
        if point.event.action in MARKERS:
            marker, colour, _ = MARKERS[point.event.action]
            axis.plot(index, point.after, marker=marker, color=colour, markersize=5, linestyle="")
    delayed = any(p.event.action == "delay" and p.event.ok for p in points)
    axis.set_title(f"{slot.doctor_id}  {slot.label}" + ("  (delayed)" if delayed else ""), fontsize=9)
    axis.set_ylim(0, top)
    axis.set_xlim(0, len(occupancy) - 1)
    axis.tick_params(labelsize=7)


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

    from local.runner import start_stack

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--doctors", type=int, default=3, choices=range(1, 11), metavar="1..10")
    parser.add_argument(
        "--slots",
        type=int,
        default=4,
        choices=range(1, 13),
        metavar="1..12",
        help="hourly slots per doctor, from 09:00 UTC",
    )
    parser.add_argument("--rush", type=int, default=240, help="online patients booking at the same moment")
    parser.add_argument("--seed", type=int, default=7, help="the replay's choices; the rush's order is the machine's")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where the JSON report and the PNG go")
    args = parser.parse_args(argv)
    result = run_demo(args.doctors, args.slots, args.rush, args.seed, args.out)
    if not result.ok:
        print("\nAN INVARIANT FAILED: see above.", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
