"""What happened in the clinic day: the slots, every answer of the API, and the contract's words."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from demo.client import TIER_OF_SOURCE, Answer

# The contract's words, written out here rather than imported from the service: the demo checks
# the service against the contract, so it must not share the service's mistakes.
TIERS = ("STANDARD", "PREMIUM", "CRITICAL")
# A place is held until a booking is CANCELLED or NO_SHOW: a consultation keeps its place.
HOLDS_PLACE = frozenset({"BOOKED", "CHECKED_IN", "CALLED", "COMPLETED"})
QUEUED = frozenset({"BOOKED", "CHECKED_IN", "CALLED"})  # what GET /slots/{id}/queue lists
LEAVE_CANCELS = frozenset({"WAITLISTED", "BOOKED", "CHECKED_IN"})  # what a doctor's leave cancels
CONTRACT_CODES = frozenset(
    {
        "VALIDATION_ERROR",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "SLOT_FULL",
        "WAITLIST_FULL",
        "DUPLICATE_BOOKING",
        "INVALID_TRANSITION",
        "SLOT_EXISTS",
        "IDEMPOTENCY_CONFLICT",
        "SLOT_CLOSED",
        "SLOT_BUSY",
        "INVALID_CODE",  # sign-in by phone (version 3)
        "TOO_MANY_CODES",
    }
)
# The no-show grace (the deployment's NO_SHOW_GRACE_MINUTES, the contract's default 15 minutes): from a slot's
# start + grace the sweeper marks BOOKED patients NO_SHOW, and its waitlist is over (nobody is promoted any more,
# the sweeper cancels who still waits: WAITLIST_EXPIRED).
GRACE = timedelta(minutes=15)
# The contract's detail-types, and which of them tell of a booking.
SLOT_EVENTS = ("SlotCreated", "SlotDelayChanged", "SlotClosed")
BOOKING_EVENTS = (
    "BookingCreated",
    "BookingWaitlisted",
    "BookingPromoted",
    "BookingCheckedIn",
    "BookingCalled",
    "BookingSkipped",
    "BookingCompleted",
    "BookingCancelled",
    "BookingNoShow",
    "BookingRescheduled",
)
EVENT_TYPES = BOOKING_EVENTS + SLOT_EVENTS

# The phases of the day: the answers are labelled with them, the timeline is shaded by them.
RUSH = "morning rush"
DOUBLE_CLICKS = "double clicks"
WAITLIST = "waitlist"
CANCELLATIONS = "cancellations"
RESCHEDULES = "reschedules"
DESK = "desk"  # walk-ins, paid, follow-ups and emergencies booked at the desk as they arrive
DELAY = "doctor delay"
ROOM = "room"  # check-in, call next, skip, complete
SWEEP = "sweeper"
LEAVE = "leave"
PHASES = (RUSH, DOUBLE_CLICKS, WAITLIST, CANCELLATIONS, RESCHEDULES, DESK, DELAY, ROOM, SWEEP, LEAVE)


# -- what happened -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotPlan:
    doctor_id: str
    slot_id: str
    start: datetime  # in the clinic's zone
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}"


@dataclass(frozen=True)
class Event:
    """One answer of the API about one booking or slot (a call-next's answer is two: completed, called)."""

    order: int  # place in the slot's history; a burst's bookings are put in token order
    phase: str
    slot_id: str
    action: str  # book, reschedule, cancel, check-in, no-show, complete, skip, called, completed, promoted, ...
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
    waitlist: bool = False  # the booking request asked for the waitlist
    moved_from: str | None = None  # a reschedule's answer: the booking it moved
    cancel_reason: str | None = None
    position: int | None = None
    estimate: str | None = None  # estimatedCallAt

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def tier(self) -> str | None:
        return TIER_OF_SOURCE.get(self.source or "")


@dataclass(frozen=True)
class Point:
    event: Event
    before: int  # places held in the slot before this answer
    after: int
    was: str | None  # the booking's status before this answer, as the answers tell it


@dataclass(frozen=True)
class Sessions:
    """One doctor's POST /doctors/{id}/sessions and its repeat."""

    doctor_id: str
    request: dict[str, Any]
    created: int
    existing: int
    repeat_created: int
    repeat_existing: int


@dataclass(frozen=True)
class Move:
    """One reschedule: the first answer, the repeat of the same request, and the patient's list after it."""

    patient: str
    old_id: str
    old_slot: str
    target_slot: str
    status: int
    code: str | None
    new_id: str | None
    repeat_status: int | None = None
    repeat_id: str | None = None
    after: tuple[dict[str, Any], ...] = ()  # GET /patients/{id}/bookings of that day, right after


@dataclass(frozen=True)
class Leave:
    """A doctor's POST /doctors/{id}/leave: what it answered, what its repeat did, and the slots after."""

    doctor_id: str
    day: str
    after_order: int  # answers from this place in the log on came after the leave
    slots: int
    cancelled: tuple[str, ...]
    repeat_cancelled: int
    closed: tuple[str, ...]  # the doctor's slots that read closed afterwards
    board_closed: bool  # the board said every slot of the day is closed
    before: dict[str, str]  # each booking's status in the doctor's slots just before, as the answers told it


@dataclass(frozen=True)
class Sweep:
    """One run of the no-show sweeper, told the clinic time `at`, and the same run again at that time."""

    at: datetime
    marked: int  # what the sweeper answered: bookings it marked NO_SHOW
    found: int  # the no-shows the demo read back
    waiting: tuple[str, ...] = ()  # every booking WAITLISTED just before it, as the answers told it
    repeat_marked: int | None = None  # the second run at the same time: what it answered (None: not run)
    repeat_changed: tuple[str, ...] = ()  # what read differently after the second run


class DayLog:
    """Every answer of the day, thread-safe, in the order the slots took them."""

    def __init__(self, slots: Sequence[SlotPlan], limits: dict[str, dict[str, int]], grace: timedelta = GRACE) -> None:
        self.slots = list(slots)
        self.grace = grace  # the stack's NO_SHOW_GRACE_MINUTES
        self.initial_limits = {slot_id: dict(tiers) for slot_id, tiers in limits.items()}
        self.limits = {slot_id: dict(tiers) for slot_id, tiers in limits.items()}
        self.events: list[Event] = []
        self.sweeps: list[Sweep] = []
        self.slot_of_booking: dict[str, str] = {}
        self.patient_of: dict[str, str] = {}
        self.source_of: dict[str, str] = {}
        self.phone_of: dict[str, str] = {}
        self.sessions: list[Sessions] = []
        self.moves: list[Move] = []
        self.leaves: list[Leave] = []
        self.watched: dict[str, list[dict[str, Any]]] = {}  # booking -> what its patient read, in order
        self._lock = threading.Lock()

    # -- recording answers ---------------------------------------------------------------------

    def _add(self, slot_id: str, **fields: Any) -> Event:
        with self._lock:
            event = Event(len(self.events), slot_id=slot_id, limits=dict(self.limits[slot_id]), **fields)
            self.events.append(event)
            return event

    @staticmethod
    def _answer(answer: Answer) -> dict[str, Any]:
        return {"status": answer.status, "code": answer.code, "busy": answer.busy, "details": tuple(answer.details)}

    @staticmethod
    def _booking(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "booking_id": body.get("bookingId"),
            "token": body.get("token"),
            "booking_status": body.get("status"),
            "cancel_reason": body.get("cancelReason"),
            "position": body.get("position"),
            "estimate": body.get("estimatedCallAt"),
        }

    def _know(self, body: dict[str, Any], slot_id: str, patient: str | None, source: str | None) -> None:
        booking_id = str(body["bookingId"])
        with self._lock:
            self.slot_of_booking[booking_id] = slot_id
            self.patient_of[booking_id] = patient or str(body.get("patientId"))
            self.source_of[booking_id] = source or str(body.get("source"))
            if body.get("phone"):
                self.phone_of[booking_id] = str(body["phone"])

    def booked(
        self,
        phase: str,
        slot_id: str,
        patient: str,
        source: str,
        answer: Answer,
        key: str | None = None,
        waitlist: bool = False,
    ) -> Event:
        body = answer.body if answer.ok else {}
        if answer.ok:
            self._know(body, slot_id, patient, source)
        fields = self._booking(body) if answer.ok else {}
        return self._add(
            slot_id,
            phase=phase,
            action="book",
            source=source,
            patient=patient,
            key=key,
            waitlist=waitlist,
            **fields,
            **self._answer(answer),
        )

    def became(self, phase: str, booking_id: str, action: str, answer: Answer) -> Event:
        """An answer whose body is the booking (a move, or a read of it)."""
        body = answer.body if answer.ok else {}
        fields = self._booking(body) if answer.ok else {"booking_id": booking_id}
        return self._add(
            self.slot_of_booking[booking_id],
            phase=phase,
            action=action,
            source=self.source_of.get(booking_id),
            patient=self.patient_of.get(booking_id),
            **fields,
            **self._answer(answer),
        )

    def called(self, phase: str, slot_id: str, answer: Answer) -> list[Event]:
        """POST /slots/{id}/call-next: the completed booking, then the called one (one write)."""
        if not answer.ok:
            return [self._add(slot_id, phase=phase, action="call-next", **self._answer(answer))]
        events = []
        for part, action in (("completed", "completed"), ("called", "called")):
            booking = answer.body.get(part)
            if isinstance(booking, dict):
                events.append(self.became(phase, str(booking["bookingId"]), action, Answer(answer.status, booking)))
        if not events:  # nobody in the room and nobody checked in: nothing written
            events.append(self._add(slot_id, phase=phase, action="call-next", **self._answer(answer)))
        return events

    def rescheduled(self, phase: str, old_id: str, target_slot: str, answer: Answer) -> Event:
        """The answer to a reschedule: the new booking, in the target slot."""
        body = answer.body if answer.ok else {}
        if answer.ok:
            self._know(body, target_slot, self.patient_of.get(old_id), self.source_of.get(old_id))
        fields = self._booking(body) if answer.ok else {}
        return self._add(
            target_slot,
            phase=phase,
            action="reschedule",
            source=self.source_of.get(old_id),
            patient=self.patient_of.get(old_id),
            moved_from=old_id,
            **fields,
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

    # -- reading the log -----------------------------------------------------------------------

    def slot_events(self, slot_id: str) -> list[Event]:
        with self._lock:  # rooms append while others read
            return [e for e in self.events if e.slot_id == slot_id]

    def history(self, slot_id: str) -> list[Point]:
        """The slot's places held after each answer, as the answers tell it."""
        return self._replay(slot_id)[0]

    def statuses(self, slot_id: str) -> dict[str, str]:
        """Each booking's status per the latest answer about it."""
        return self._replay(slot_id)[1]

    def _replay(self, slot_id: str) -> tuple[list[Point], dict[str, str]]:
        status: dict[str, str] = {}
        held = 0
        points = []
        for event in self.slot_events(slot_id):
            before = held
            was = status.get(event.booking_id or "")
            # A repeated request is answered from memory (a waitlisted booking's repeat says WAITLISTED
            # even once promoted): it changes nothing.
            repeat = event.action in ("book", "reschedule") and event.booking_id in status
            if event.ok and event.booking_id and event.booking_status and not repeat:
                held += (event.booking_status in HOLDS_PLACE) - (was in HOLDS_PLACE)
                status[event.booking_id] = event.booking_status
            points.append(Point(event, before, held, was))
        return points, status

    def in_status(self, slot_id: str, status: str) -> list[str]:
        """Bookings of the slot in `status`, by token (waitlisted ones, who have none, in join order)."""
        tokens = self.tokens(slot_id)
        found = [b for b, s in self.statuses(slot_id).items() if s == status]  # in the order first answered
        return sorted(found, key=lambda b: tokens.get(b, 10**6))

    def tokens(self, slot_id: str) -> dict[str, int]:
        """Each booking's token, as first answered (a waitlisted booking has one once promoted)."""
        found: dict[str, int] = {}
        for e in self.slot_events(slot_id):
            if e.ok and e.booking_id and e.token is not None:
                found.setdefault(e.booking_id, e.token)
        return found

    def bookings(self, slot_id: str) -> list[str]:
        """Every booking the day made in the slot, in the order first answered."""
        with self._lock:
            return [b for b, s in self.slot_of_booking.items() if s == slot_id]
