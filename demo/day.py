"""What happened in the clinic day: the slots, every answer of the API, and the contract's words."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from demo.client import TIER_OF_SOURCE, Answer

# The contract's words, written out here rather than imported from the service: the demo checks
# the service against the contract, so it must not share the service's mistakes.
TIERS = ("STANDARD", "PREMIUM", "CRITICAL")
# A place is held until a booking is CANCELLED or NO_SHOW: a consultation keeps its place.
HOLDS_PLACE = frozenset({"BOOKED", "CHECKED_IN", "CALLED", "COMPLETED"})
QUEUED = frozenset({"BOOKED", "CHECKED_IN", "CALLED"})  # what GET /slots/{id}/queue lists
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

FIRST_HOUR = 9  # the clinic opens at 09:00 UTC
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
                active += (event.booking_status in HOLDS_PLACE) - (status.get(event.booking_id) in HOLDS_PLACE)
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
