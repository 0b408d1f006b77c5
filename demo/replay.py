"""The replay: the clinic day's phases played through the API, then the day read back."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from demo import counter, people
from demo.checks import FinalView, Published
from demo.client import Answer, OpdClient, at_once, expect, in_parallel
from demo.day import (
    CANCELLATIONS,
    DELAY,
    DESK,
    DOUBLE_CLICKS,
    LEAVE,
    RESCHEDULES,
    ROOM,
    RUSH,
    SWEEP,
    WAITLIST,
    DayLog,
    Event,
    Leave,
    Move,
    SlotPlan,
    Sweep,
)

SWEEP_LATE = timedelta(minutes=1)  # the sweeper runs a minute after a slot's start + grace
DELAY_MINUTES = 40
WAITLIST_TRIES = 12  # refused patients of a slot who try its waitlist (the default limit is 10)
ARRIVING = 0.8  # the share of booked patients who turn up


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
    day: date  # the clinic day, in the clinic's zone
    patients: dict[str, str] = field(default_factory=dict)  # online patient -> their own token
    keys: dict[str, str] = field(default_factory=dict)  # online patient -> the Idempotency-Key of their booking
    waiting: dict[str, list[str]] = field(default_factory=dict)  # slot -> patients the rush refused, in order
    morning: list[datetime] = field(default_factory=list)  # the morning's slot starts; the rest is afternoon
    # Called at the moments worth a picture ("busy", "afternoon") with the clinic's time; says what it did.
    moment: Callable[[str, datetime], str] | None = None
    say: Callable[[str, str], None] = lambda phase, text: None
    scene: dict[str, Any] = field(default_factory=dict)  # the day's notable moments, for the report
    label_of: dict[str, str] = field(default_factory=dict)  # patientId -> the part they play (demo.people)
    phones: dict[str, str] = field(default_factory=dict)  # patientId -> the mobile number they registered with
    watching: dict[str, str] = field(default_factory=dict)  # slot -> the booking whose patient follows their place
    skipping: dict[str, str] = field(default_factory=dict)  # slot -> the patient who does not answer the first call
    counter: Any = None  # what the registration counter did (demo.counter.CounterDay), once it has opened

    def rng(self, *names: object) -> random.Random:
        """Seeded per phase and slot, so rooms working side by side still draw the same."""
        return random.Random(":".join(str(n) for n in (self.seed, *names)))

    def doctors(self) -> dict[str, list[SlotPlan]]:
        by_doctor: dict[str, list[SlotPlan]] = {}
        for slot in self.slots:
            by_doctor.setdefault(slot.doctor_id, []).append(slot)
        return by_doctor

    def doctor(self, role: int) -> str:
        """The doctors' parts in the day: 0 has the popular slot, 1 goes on leave at noon, 2 runs late."""
        return list(self.doctors())[role]

    def slot(self, slot_id: str) -> SlotPlan:
        return next(s for s in self.slots if s.slot_id == slot_id)

    def register(self, label: str, app_user: bool = False) -> str:
        """The desk registers the patient `label` plays (name, language, and phone if they give one; an app user
        always does, their own): their patientId. Their bookings take the language (none asks for another)."""
        phone = people.mobile_of(label) if app_user else people.phone_of(label)
        answer = self.api.register_patient(self.reception, people.name_of(label), phone, people.language_of(label))
        patient_id = str(expect(answer, f"registering {label}")["patientId"])
        self.label_of[patient_id] = label
        if phone is not None:
            self.phones[patient_id] = phone
        return patient_id

    def desk_patient(self, kind: str, slot: SlotPlan, n: int) -> str:
        """A patient new to the hospital, registered at the desk before being booked."""
        return self.register(f"{kind}-{slot.doctor_id.removeprefix('dr-')}-{slot.start:%H%M}-{n}")

    def language_of(self, patient_id: str) -> str:
        """The language the patient registered with (demo.people)."""
        return people.language_of(self.label_of.get(patient_id, patient_id))

    def phone(self, patient_id: str) -> str | None:
        """The mobile number the patient registered with, which they (or the desk) book with."""
        return self.phones.get(patient_id)

    def sign_in_by_phone(self, patient_ids: list[str]) -> dict[str, str]:
        """Each patient asks for a code for their phone, reads it from the SMS and signs in with it (POST
        /auth/otp, then /auth/otp/verify): their own access token, by patientId. The phone the desk registered
        for exactly one patient signs in to that patient."""
        phones = [str(self.phones[p]) for p in patient_ids]
        # Each asks from a phone whose browser is in their language: the code's SMS comes in it (Accept-Language).
        accepts = [people.ACCEPT_LANGUAGE[people.language_of(self.label_of[p])] for p in patient_ids]
        asked = in_parallel([partial(self.api.request_code, p, a) for p, a in zip(phones, accepts, strict=True)], 4)
        for patient_id, sent in zip(patient_ids, asked, strict=True):
            expect(sent, f"a sign-in code for {patient_id}")
        codes = self.api.sign_in_codes()
        deadline = time.monotonic() + 10  # the local SNS's record of the last SMS may lag its send a moment
        while not set(phones) <= codes.keys() and time.monotonic() < deadline:
            time.sleep(0.2)
            codes = self.api.sign_in_codes()
        answers = in_parallel([partial(self.api.verify_code, p, codes[p]) for p in phones], 4)
        tokens = {}
        for patient_id, answer in zip(patient_ids, answers, strict=True):
            body = expect(answer, f"signing in {patient_id}")
            if body["patientId"] != patient_id or body["newPatient"]:
                raise RuntimeError(f"{patient_id}'s phone signed in to {body['patientId']} (new: {body['newPatient']})")
            tokens[patient_id] = str(body["accessToken"])
        self.scene["signIn"] = {"patients": len(tokens), "codes": len(phones), "toTheirRecord": len(tokens)}
        return tokens

    def token_of(self, booking_id: str) -> str:
        """The patient's own token for an online patient's booking, else the desk's."""
        return self.patients.get(self.log.patient_of.get(booking_id, ""), self.reception)

    def book(
        self,
        phase: str,
        slot: SlotPlan,
        patient: str,
        source: str,
        token: str | None = None,
        key: str | None = None,
        *,
        waitlist: bool = False,
        phone: str | None = None,
    ) -> Event:
        """Book as the patient (own token) or, by default, at the reception desk."""
        answer = self.api.book(
            token or self.reception, slot.slot_id, patient, source, key, waitlist=waitlist, phone=phone
        )
        return self.log.booked(phase, slot.slot_id, patient, source, answer, key, waitlist)

    def move(self, phase: str, booking_id: str, action: str, token: str | None = None) -> Event:
        return self.log.became(phase, booking_id, action, self.api.move(token or self.reception, booking_id, action))

    def observe(self, phase: str, booking_id: str) -> Event:
        """Read a booking (as its patient, when online) after a change that may have moved it unasked."""
        believed = self.log.statuses(self.log.slot_of_booking[booking_id]).get(booking_id)
        answer = self.api.get_booking(self.token_of(booking_id), booking_id)
        status = answer.body.get("status") if answer.ok else None
        action = {
            ("WAITLISTED", "BOOKED"): "promoted",
            ("BOOKED", "NO_SHOW"): "swept",
            ("WAITLISTED", "CANCELLED"): "expired",
            ("BOOKED", "CANCELLED"): "moved away",
        }.get((str(believed), str(status)), "read")
        return self.log.became(phase, booking_id, action, answer)

    def each_room(
        self, work: Callable[[SlotPlan], list[Event]], slots: Sequence[SlotPlan] | None = None
    ) -> list[Event]:
        """Doctors' rooms work side by side; within a room, one slot after another."""

        def room(room_slots: list[SlotPlan]) -> list[Event]:
            return [event for slot in room_slots for event in work(slot)]

        rooms = [[s for s in room_slots if slots is None or s in slots] for room_slots in self.doctors().values()]
        return [event for events in in_parallel([partial(room, r) for r in rooms if r]) for event in events]


def summary(events: Sequence[Event]) -> str:
    """Counts of what was done and what was refused, and the 429s on the way."""
    done = Counter(PAST.get(e.action, e.action) for e in events if e.ok and e.action != "read")
    refused = Counter(str(e.code) for e in events if not e.ok)
    waitlisted = sum(1 for e in events if e.ok and e.action == "book" and e.booking_status == "WAITLISTED")
    if waitlisted:
        done["booked"] -= waitlisted
        done["waitlisted"] += waitlisted
    text = ", ".join(f"{n} {action}" for action, n in done.items() if n) or "none accepted"
    if refused:
        text += "; refused: " + ", ".join(f"{code} {n}" for code, n in refused.most_common())
    busy = sum(e.busy for e in events)
    return text + (f"; {busy} × 429 retried after Retry-After" if busy else "")


PAST = {
    "book": "booked",
    "check-in": "checked in",
    "no-show": "marked no-show at the desk",
    "swept": "marked no-show by the sweeper",
    "expired": "waitlist expired",
    "cancel": "cancelled",
    "complete": "completed",
    "completed": "completed",
    "called": "called",
    "skip": "skipped",
    "delay": "delays set",
    "reschedule": "rescheduled",
    "promoted": "promoted from the waitlist",
    "leave-cancel": "cancelled by the leave",
    "moved away": "moved away",
}


# -- before the day: online bookings, the waitlist, cancellations, reschedules --------------------


def morning_rush(c: Clinic) -> str:
    """Every online patient books at the same moment; a doctor's early slots are wanted most."""
    per_doctor = len(c.slots) // len(c.doctors())
    weights = [1 / (index % per_doctor + 1) ** 1.5 for index in range(len(c.slots))]
    patients = list(c.patients)
    wanted = c.rng("rush").choices(c.slots, weights, k=len(patients))
    for patient in patients:
        c.keys[patient] = uuid.uuid4().hex
    calls = [
        partial(c.book, RUSH, s, p, "ONLINE", c.patients[p], c.keys[p], phone=c.phone(p))
        for p, s in zip(patients, wanted, strict=True)
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
        own, phone = c.patients[patient], c.phone(patient)
        repeats.append(c.book(DOUBLE_CLICKS, slot, patient, "ONLINE", own, c.keys[patient], phone=phone))
        seconds.append(c.book(DOUBLE_CLICKS, slot, patient, "ONLINE", own, phone=phone))
    same = sum(r.booking_id == f.booking_id and r.token == f.token for r, f in zip(repeats, firsts, strict=True))
    return f"{same} of {len(firsts)} repeats got the first booking back; second bookings: " + summary(seconds)


def waitlist(c: Clinic) -> str:
    """Patients the rush turned away ask for the waitlist of the slot they wanted, until it is full."""

    def room(slot: SlotPlan) -> list[Event]:
        refused = c.waiting.get(slot.slot_id, [])[:WAITLIST_TRIES]
        return [
            c.book(WAITLIST, slot, p, "ONLINE", c.patients[p], uuid.uuid4().hex, waitlist=True, phone=c.phone(p))
            for p in refused
        ]

    events = c.each_room(room)
    slots = len({e.slot_id for e in events if e.ok})
    return f"{slots} full slots, the patients they refused ask to wait: " + summary(events)


def cancellations(c: Clinic) -> str:
    """Online patients cancel; in the same write the first waitlisted patient gets the place and a token."""

    def room(slot: SlotPlan) -> list[Event]:
        holders = [b for b in c.log.in_status(slot.slot_id, "BOOKED") if c.log.patient_of[b] in c.patients]
        waiting = len(c.log.in_status(slot.slot_id, "WAITLISTED"))
        count = 2 if waiting else c.rng(CANCELLATIONS, slot.doctor_id, slot.label).choice((0, 1))
        leaving = c.rng(CANCELLATIONS, slot.doctor_id, slot.label).sample(holders, min(count, len(holders)))
        events = []
        for booking_id in leaving:
            events.append(c.move(CANCELLATIONS, booking_id, "cancel", c.token_of(booking_id)))
            if booking_id == leaving[0]:  # pressed twice: a booking is cancelled once
                events.append(c.move(CANCELLATIONS, booking_id, "cancel", c.token_of(booking_id)))
            events += promotions(c, CANCELLATIONS, slot)
        return events

    events = c.each_room(room)
    return "patients cancel, the waitlist takes their places: " + summary(events)


def reschedules(c: Clinic) -> str:
    """A patient of each doctor's first slot moves to a later one of the same doctor, and the request is
    sent twice; one patient tries a full slot and keeps the booking they had."""
    events: list[Event] = []
    for n, (doctor, slots) in enumerate(c.doctors().items()):
        first = slots[0]
        holders = [b for b in c.log.in_status(first.slot_id, "BOOKED") if c.log.patient_of[b] in c.patients]
        targets = [s for s in reversed(slots[1:]) if _room_for(c, s, "STANDARD")]
        if not holders or not targets:
            continue
        with_phone = [b for b in holders if c.log.phone_of.get(b)] or holders
        # Each doctor's mover reads another language, so the day sends a BookingRescheduled SMS in each.
        wanted = people.LANGUAGES[n % len(people.LANGUAGES)]
        speaking = [b for b in with_phone if c.language_of(c.log.patient_of[b]) == wanted] or with_phone
        booking_id = c.rng(RESCHEDULES, doctor).choice(speaking)
        events += reschedule(c, RESCHEDULES, booking_id, targets[0])
    # Into a slot whose standard places are all taken: 409 SLOT_FULL, and the old booking stays.
    full = next((s for s in c.slots if not _room_for(c, s, "STANDARD")), None)
    others = [s for s in c.slots if full is not None and s.doctor_id != full.doctor_id]
    movers = [b for s in others for b in c.log.in_status(s.slot_id, "BOOKED") if c.log.patient_of[b] in c.patients]
    if full is not None and movers:
        events += reschedule(c, RESCHEDULES, movers[-1], full)
    moved = sum(1 for m in c.log.moves if m.new_id)
    return f"{moved} patients move to a later slot, each request sent twice: " + summary(events)


def _room_for(c: Clinic, slot: SlotPlan, tier: str) -> bool:
    read = expect(c.api.get_slot(slot.slot_id), "slot")
    return not read["closed"] and int(read["available"][tier]) > 0


def reschedule(c: Clinic, phase: str, booking_id: str, target: SlotPlan) -> list[Event]:
    """Move the booking (as its patient), send the same request again, then read what the patient holds."""
    own, patient = c.token_of(booking_id), c.log.patient_of[booking_id]
    old_slot = c.log.slot_of_booking[booking_id]
    first = c.log.rescheduled(phase, booking_id, target.slot_id, c.api.reschedule(own, booking_id, target.slot_id))
    events = [first]
    repeat = None
    if first.ok:
        repeat = c.log.rescheduled(phase, booking_id, target.slot_id, c.api.reschedule(own, booking_id, target.slot_id))
        events.append(repeat)
    events.append(c.observe(phase, booking_id))  # the old booking: CANCELLED (RESCHEDULED), or untouched
    if first.ok:
        events += promotions(c, phase, c.slot(old_slot))
    listed = c.api.patient_bookings(own, patient, c.day.isoformat(), c.day.isoformat())
    c.log.moves.append(
        Move(
            patient=patient,
            old_id=booking_id,
            old_slot=old_slot,
            target_slot=target.slot_id,
            status=first.status,
            code=first.code,
            new_id=first.booking_id if first.ok else None,
            repeat_status=repeat.status if repeat else None,
            repeat_id=repeat.booking_id if repeat else None,
            after=tuple(listed.body.get("bookings", [])) if listed.ok else (),
        )
    )
    return events


def promotions(c: Clinic, phase: str, slot: SlotPlan) -> list[Event]:
    """After a place was given back: the waitlisted bookings that left the waitlist, read as their patients see them."""
    waiting = c.log.in_status(slot.slot_id, "WAITLISTED")
    if not waiting:
        return []
    still = {b["bookingId"] for b in expect(c.api.waitlist(c.reception, slot.slot_id), "waitlist")["waitlist"]}
    return [c.observe(phase, booking_id) for booking_id in waiting if booking_id not in still]


# -- the clinic day, hour by hour -----------------------------------------------------------------


def clinic_hours(c: Clinic) -> str:
    """Hour by hour: the desk books arrivals and checks them in, doctors call patients in, some are skipped,
    the sweeper marks no-shows and ends waitlists; at noon one doctor goes on leave."""
    hours = sorted({s.start for s in c.slots})
    busy = c.morning[min(1, len(c.morning) - 1)]  # the second hour: every room at work, one doctor late
    afternoon = next((h for h in hours if h not in c.morning), None)
    totals: list[Event] = []
    for start in hours:
        if start == afternoon:
            totals += doctor_leave(c, start)
        totals += clinic_hour(c, start, {busy: "busy", afternoon: "afternoon"}.get(start))
    return f"{len(hours)} hours: " + hour_text(totals, len(c.doctors()))


def clinic_hour(c: Clinic, start: datetime, moment: str | None) -> list[Event]:
    now = [s for s in c.slots if s.start == start and s.slot_id not in _closed(c)]
    events = c.each_room(partial(opening, c), now)
    events += c.each_room(partial(first_calls, c), now)
    pictures = ""
    if c.moment is not None and moment is not None:  # 20 minutes into the hour, as the pages show it
        pictures = "; " + c.moment(moment, start + timedelta(minutes=20))
    events += sweep(c, start + c.log.grace + SWEEP_LATE)
    again = c.log.sweeps[-1]
    events += c.each_room(partial(rest_of_hour, c), now)
    relayed = c.api.relay()  # the relay's schedule: every minute, so at least once an hour of the replay
    c.say(
        f"{start:%H:%M}",
        hour_text(events, len(now))
        + f"; swept again at {again.at:%H:%M}: {again.repeat_marked} marked, {len(again.repeat_changed)} slots changed"
        + f"; relay: {relayed.get('published', 0)} left over{pictures}",
    )
    return events


def hour_text(events: Sequence[Event], rooms: int) -> str:
    """One hour in a line: the desk, the room, the sweeper, the waitlist."""
    done = Counter(e.action for e in events if e.ok)
    desk = [e for e in events if e.phase == DESK]
    refused = Counter(str(e.code) for e in desk if not e.ok)
    waitlisted = sum(1 for e in desk if e.ok and e.booking_status == "WAITLISTED")
    text = (
        f"{rooms} rooms; desk: {sum(1 for e in desk if e.ok) - waitlisted} booked, {waitlisted} waitlisted"
        + "".join(f", {code} {n}" for code, n in refused.items())
        + f"; {done['check-in']} checked in, {done['called']} called, {done['skip']} skipped, "
        f"{done['completed'] + done['complete']} seen; cancelled {done['cancel']}, desk no-shows {done['no-show']}; "
        f"sweeper: {done['swept']} no-shows, {done['expired']} waitlists ended; {done['promoted']} promoted"
    )
    busy = sum(e.busy for e in events)
    return text + (f"; {busy} × 429 retried" if busy else "")


def _closed(c: Clinic) -> set[str]:
    return {slot for leave in c.log.leaves for slot in leave.closed}


def opening(c: Clinic, slot: SlotPlan) -> list[Event]:
    """The hour begins: a late doctor says so, a patient phones to cancel, the desk books who comes in,
    the patients who came check in."""
    rng = c.rng(ROOM, slot.doctor_id, slot.label)
    events: list[Event] = []
    first_hour = slot.start == c.morning[0]
    if slot.doctor_id == c.doctor(2) and slot.start == c.morning[min(1, len(c.morning) - 1)]:
        answer = c.api.set_delay(c.admin, slot.slot_id, True, DELAY_MINUTES)
        events.append(c.log.delayed(DELAY, slot.slot_id, answer))
        c.scene["delay"] = {
            "doctor": slot.doctor_id,
            "slot": slot.label,
            "minutes": DELAY_MINUTES,
            "limits": answer.body.get("limits") if answer.ok else None,
        }
    booked = c.log.in_status(slot.slot_id, "BOOKED")
    if booked:  # a patient phones: they cannot come; the desk cancels, the waitlist gets the place
        events.append(c.move(ROOM, booked[rng.randrange(len(booked))], "cancel"))
        events += promotions(c, ROOM, slot)
    if slot.doctor_id == c.doctor(0) and first_hour:
        events += never_comes_in(c, slot)
    if slot.doctor_id == c.doctor(2) and first_hour:
        events += arrives_and_leaves(c, slot)
    booked = c.log.in_status(slot.slot_id, "BOOKED")
    if len(booked) > 3:  # the desk hears a patient was admitted elsewhere: a no-show now, not at start + grace
        events.append(c.move(ROOM, booked[rng.randrange(len(booked))], "no-show"))
        events += promotions(c, ROOM, slot)
    events += desk_bookings(c, slot, first_hour)
    booked = c.log.in_status(slot.slot_id, "BOOKED")
    arriving = set(rng.sample(booked, round(len(booked) * ARRIVING)))
    for booking_id in booked:
        if booking_id in arriving:
            events.append(c.move(ROOM, booking_id, "check-in"))
    online = [
        b
        for b in c.log.in_status(slot.slot_id, "CHECKED_IN")
        if c.log.patient_of[b] in c.patients and _first_answer(c, b)["status"] == "BOOKED"
    ]
    if online:  # one online patient, far down the queue, follows their place on their phone
        watched = online[-1]
        c.watching[slot.slot_id] = watched
        c.log.watched[watched] = [_seen("booked", _first_answer(c, watched))]
        watch(c, slot, "checked in")
    standard = [
        b
        for b in c.log.in_status(slot.slot_id, "CHECKED_IN")
        if c.log.source_of.get(b) in ("ONLINE", "WALKIN") and b != c.watching.get(slot.slot_id)
    ]
    if standard:  # one patient will not answer their first call
        c.skipping[slot.slot_id] = standard[len(standard) // 2]
    return events


def never_comes_in(c: Clinic, slot: SlotPlan) -> list[Event]:
    """The first patient to check in wanders off: called three times before anyone else arrives, then a
    no-show, and the place goes to the waitlist in the same write."""
    booked = c.log.in_status(slot.slot_id, "BOOKED")
    if not booked:
        return []
    booking_id = booked[0]
    events = [c.move(ROOM, booking_id, "check-in")]
    for _ in range(3):
        events += c.log.called(ROOM, slot.slot_id, c.api.call_next(c.reception, slot.slot_id))
        events.append(c.move(ROOM, booking_id, "skip"))
    promoted = promotions(c, ROOM, slot)
    c.scene["skipped"] = {
        "doctor": slot.doctor_id,
        "slot": slot.label,
        "token": c.log.tokens(slot.slot_id).get(booking_id),
        "status": events[-1].booking_status,
        "promoted": [e.token for e in promoted if e.action == "promoted"],
    }
    return events + promoted


def arrives_and_leaves(c: Clinic, slot: SlotPlan) -> list[Event]:
    """A patient comes early and checks in, then leaves before being called (they cannot wait after all): the
    desk cancels the CHECKED_IN booking, and, before start + grace, the place goes to the waitlist in the same
    write (when a waitlisted tier has room)."""
    booked = [b for b in c.log.in_status(slot.slot_id, "BOOKED") if c.log.patient_of[b] in c.patients]
    if not booked:
        return []
    booking_id = booked[-1]
    events = [c.move(ROOM, booking_id, "check-in"), c.move(ROOM, booking_id, "cancel")]
    promoted = promotions(c, ROOM, slot)
    c.scene["left"] = {
        "doctor": slot.doctor_id,
        "slot": slot.label,
        "token": c.log.tokens(slot.slot_id).get(booking_id),
        "statuses": [e.booking_status for e in events],
        "promoted": [e.token for e in promoted if e.action == "promoted"],
    }
    return events + promoted


def desk_bookings(c: Clinic, slot: SlotPlan, first_hour: bool) -> list[Event]:
    """Who comes to the desk this hour: walk-ins (one asks to wait if it is full), paid and follow-up
    patients into the premium buffer, emergencies into the critical one (in the first hour, more than fit)."""
    events = []
    for n in range(3):
        patient = c.desk_patient("walkin", slot, n)
        events.append(c.book(DESK, slot, patient, "WALKIN", waitlist=n == 2, phone=c.phone(patient)))
    for n, source in enumerate(("PAID", "FOLLOWUP")):
        patient = c.desk_patient(source.lower(), slot, n)
        events.append(c.book(DESK, slot, patient, source, phone=c.phone(patient)))
    for n in range(4 if first_hour else 1):
        events.append(c.book(DESK, slot, c.desk_patient("emergency", slot, n), "EMERGENCY"))
    return events


def first_calls(c: Clinic, slot: SlotPlan) -> list[Event]:
    """The doctor starts: a few patients called in (a late doctor has not started yet)."""
    if slot.slot_id in _delayed(c):
        return []
    events: list[Event] = []
    for _ in range(3):
        events += call_next(c, slot)
    return events


def _delayed(c: Clinic) -> set[str]:
    return {e.slot_id for e in c.log.events if e.action == "delay" and e.ok}


def call_next(c: Clinic, slot: SlotPlan) -> list[Event]:
    """Call next (which completes the patient in the room); one patient does not answer and is skipped."""
    events = c.log.called(ROOM, slot.slot_id, c.api.call_next(c.reception, slot.slot_id))
    called = next((e.booking_id for e in events if e.action == "called"), None)
    if called is not None and c.skipping.get(slot.slot_id) == called:
        del c.skipping[slot.slot_id]
        events.append(c.move(ROOM, called, "skip"))
    watch(c, slot, "a call")
    return events


def watch(c: Clinic, slot: SlotPlan, after: str) -> None:
    """The watched patient of the slot reads their own booking: their position and estimated call time."""
    booking_id = c.watching.get(slot.slot_id)
    if booking_id is None:
        return
    seen = c.log.watched[booking_id]
    if seen[-1]["status"] not in ("BOOKED", "CHECKED_IN"):
        return  # called in (or gone): nothing more to follow
    answer = c.api.get_booking(c.token_of(booking_id), booking_id)
    if answer.ok:
        seen.append(_seen(after, answer.body))


def _first_answer(c: Clinic, booking_id: str) -> dict[str, Any]:
    first = next(e for e in c.log.events if e.booking_id == booking_id and e.ok)
    return {"status": first.booking_status, "position": first.position, "estimatedCallAt": first.estimate}


def _seen(after: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "after": after,
        "status": body.get("status"),
        "position": body.get("position"),
        "estimatedCallAt": body.get("estimatedCallAt"),
    }


def sweep(c: Clinic, now: datetime) -> list[Event]:
    """The no-show sweeper, told the clinic's time `now`: in slots past start + grace, BOOKED patients who never
    came are no-shows, and the waitlist is over: who still waits is cancelled (WAITLIST_EXPIRED), nobody is
    promoted, the places given back stay free. The sweep answers a count: each booking is read back. Then the
    sweeper runs again at the same time, which must change nothing: its count, and the slots read before and
    after it."""
    waiting = tuple(b for s in c.slots for b in c.log.in_status(s.slot_id, "WAITLISTED"))
    marked = c.api.sweep(now)
    past = [s for s in c.slots if s.start + c.log.grace <= now]
    events: list[Event] = []
    for slot in past:
        pending = c.log.in_status(slot.slot_id, "BOOKED") + c.log.in_status(slot.slot_id, "WAITLISTED")
        seen = [(c.api.get_booking(c.token_of(b), b), b) for b in pending]
        # In the sweep's one write: the no-shows first, then the waitlist's end (a promotion, which must not be,
        # would be between: a place given back, then taken).
        order = {"NO_SHOW": 0, "BOOKED": 1}
        for answer, booking_id in sorted(seen, key=lambda pair: order.get(str(pair[0].body.get("status")), 2)):
            before = c.log.statuses(slot.slot_id).get(booking_id)
            status = answer.body.get("status")
            action = {"NO_SHOW": "swept", "CANCELLED": "expired"}.get(str(status), "read")
            if (before, status) == ("WAITLISTED", "BOOKED"):
                action = "promoted"
            events.append(c.log.became(SWEEP, booking_id, action, answer))
    first = _counts(c, past)
    again = c.api.sweep(now)
    changed = tuple(
        f"{slot.doctor_id} {slot.label}: GET /slots read {was}, then {reads}"
        for slot, was, reads in zip(past, first, _counts(c, past), strict=True)
        if was != reads
    )
    found = sum(1 for e in events if e.action == "swept")
    c.log.sweeps.append(Sweep(now, marked, found, waiting, repeat_marked=again, repeat_changed=changed))
    return events


def _counts(c: Clinic, slots: Sequence[SlotPlan]) -> list[str]:
    """Each slot's places held and waitlisted, as GET /slots/{id} reads them."""
    reads = in_parallel([partial(_read_slot, c, s) for s in slots])
    return [f"booked {r['booked']}, waitlisted {r['waitlisted']}" for r in reads]


def _read_slot(c: Clinic, slot: SlotPlan) -> dict[str, Any]:
    return expect(c.api.get_slot(slot.slot_id), f"slot {slot.slot_id}")


def rest_of_hour(c: Clinic, slot: SlotPlan) -> list[Event]:
    """Late comers check in, late walk-ins take freed places, and the doctor sees everyone waiting."""
    events = [c.move(ROOM, b, "check-in") for b in c.log.in_status(slot.slot_id, "BOOKED")[:2]]
    for n in range(2):
        walk_in = c.book(DESK, slot, c.desk_patient("late-walkin", slot, n), "WALKIN")
        events.append(walk_in)
        if walk_in.ok and walk_in.booking_id and walk_in.booking_status == "BOOKED":
            events.append(c.move(ROOM, walk_in.booking_id, "check-in"))
    while True:
        calls = call_next(c, slot)
        events += calls
        if not any(e.action == "called" for e in calls):
            return events


def doctor_leave(c: Clinic, afternoon: datetime) -> list[Event]:
    """Noon: a doctor is called away for the rest of the day. Their morning is over; leave is for the whole
    day, so every slot closes, and who still waits in the afternoon is cancelled (DOCTOR_UNAVAILABLE)."""
    doctor = c.doctor(1)
    mine = c.doctors()[doctor]
    afternoon_slots = [s for s in mine if s.start >= afternoon]
    events: list[Event] = []
    early = next((b for s in afternoon_slots for b in c.log.in_status(s.slot_id, "BOOKED")), None)
    if early is not None:  # a patient of the afternoon came early and checked in
        events.append(c.move(LEAVE, early, "check-in"))
    before = {b: s for slot in mine for b, s in c.log.statuses(slot.slot_id).items()}
    after_order = len(c.log.events)
    answer = c.api.take_leave(c.admin, doctor, c.day.isoformat(), "called away")
    cancelled = expect(answer, "leave")["cancelled"]
    for booking in cancelled:
        events.append(c.log.became(LEAVE, str(booking["bookingId"]), "leave-cancel", Answer(answer.status, booking)))
    repeat = expect(c.api.take_leave(c.admin, doctor, c.day.isoformat(), "called away"), "leave again")
    listed = expect(c.api.doctor_slots(doctor, c.day.isoformat()), "slots")["slots"]
    board = expect(c.api.board(doctor, c.day.isoformat()), "board")["slots"]
    # Nobody gets into a closed slot: online, waitlisted, at the desk, or by a reschedule.
    target = afternoon_slots[0] if afternoon_slots else mine[-1]
    patients_here = {c.log.patient_of[b] for b in before}
    patient = next(p for p in reversed(c.patients) if p not in patients_here)
    attempts = [
        c.book(LEAVE, target, patient, "ONLINE", c.patients[patient], uuid.uuid4().hex),
        c.book(LEAVE, target, patient, "ONLINE", c.patients[patient], uuid.uuid4().hex, waitlist=True),
        c.book(LEAVE, target, c.desk_patient("walkin", target, 9), "WALKIN"),
    ]
    movers = [
        b
        for s in c.slots
        if s.doctor_id != doctor and s.start >= afternoon
        for b in c.log.in_status(s.slot_id, "BOOKED")
        if c.log.patient_of[b] in c.patients
    ]
    if movers:
        attempts += reschedule(c, LEAVE, movers[0], target)
    events += attempts
    c.log.leaves.append(
        Leave(
            doctor_id=doctor,
            day=c.day.isoformat(),
            after_order=after_order,
            slots=int(answer.body["slots"]),
            cancelled=tuple(str(b["bookingId"]) for b in cancelled),
            repeat_cancelled=len(repeat["cancelled"]),
            closed=tuple(s["slotId"] for s in listed if s["closed"]),
            board_closed=bool(board) and all(s["closed"] for s in board),
            before=before,
        )
    )
    leave = c.log.leaves[-1]
    c.say(
        "12:00 leave",
        f"{doctor} called away: {leave.slots} slots closed, {len(leave.cancelled)} bookings cancelled "
        f"(DOCTOR_UNAVAILABLE), the repeat cancelled {leave.repeat_cancelled}; board: "
        f"{'Doctor on leave today' if leave.board_closed else 'NOT CLOSED'}; then "
        + summary([e for e in attempts if e.action in ("book", "reschedule")]),
    )
    return events


REPLAY: tuple[tuple[str, Callable[[Clinic], str]], ...] = (
    (counter.PHASE, counter.registration_counter),
    (RUSH, morning_rush),
    (DOUBLE_CLICKS, double_clicks),
    (WAITLIST, waitlist),
    (CANCELLATIONS, cancellations),
    (RESCHEDULES, reschedules),
    ("clinic day", clinic_hours),
)


# -- reading the day back ------------------------------------------------------------------------


def settle_bus(c: Clinic, quiet_s: float = 1.5, limit_s: float = 20.0) -> Published:
    """Run the relay once more, wait until the SMS notifier has caught up, then read the bus and the SMS."""
    c.api.relay()
    began, last, count = time.monotonic(), time.monotonic(), -1
    while time.monotonic() - began < limit_s:
        sent = len(c.api.sms())
        if sent != count:
            count, last = sent, time.monotonic()
        elif time.monotonic() - last >= quiet_s:
            break
        time.sleep(0.25)
    # The SMS of events: a sign-in code is the SMS of none (its eventId null), counted apart.
    messages = c.api.sms()
    codes = [m for m in messages if m.get("eventId") is None]
    c.scene["signInCodesSent"] = len(codes)
    return Published(c.api.events(), [m for m in messages if m.get("eventId") is not None], codes)


def read_back(c: Clinic, store: Callable[[str], dict[str, Any] | None] | None) -> dict[str, FinalView]:
    """Each slot, its queue and waitlist, every booking the day made there; the slot's document from the store."""

    def view(slot: SlotPlan) -> FinalView:
        read = expect(c.api.get_slot(slot.slot_id), f"slot {slot.slot_id}")
        queue = expect(c.api.queue(c.reception, slot.slot_id), f"queue of {slot.slot_id}")["queue"]
        waiting = expect(c.api.waitlist(c.reception, slot.slot_id), f"waitlist of {slot.slot_id}")["waitlist"]
        bookings = {b: c.api.get_booking(c.reception, b).body for b in c.log.bookings(slot.slot_id)}
        return FinalView(read, queue, bookings, store(slot.slot_id) if store else None, waiting)

    return dict(zip([s.slot_id for s in c.slots], in_parallel([partial(view, s) for s in c.slots]), strict=True))
