"""The invariants: what the answers and the read-back must agree on once the day is over."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from demo.day import CONTRACT_CODES, HOLDS_PLACE, QUEUED, DayLog, Event, SlotPlan

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
        holding = {b for b, s in believed.items() if s in HOLDS_PLACE}
        counts = {
            "the answers": len(holding),
            "GET /slots": final.slot["booked"],
            "GET /bookings": sum(1 for b in final.bookings.values() if b.get("status") in HOLDS_PLACE),
        }
        if final.store is not None:
            counts["the store's count"] = final.store["booked"]
            counts["the store's bookings"] = sum(1 for b in final.store["bookings"] if b["status"] in HOLDS_PLACE)
        if len(set(counts.values())) != 1:
            problems.append(f"{where}: places held disagree: {counts}")
        if {b["bookingId"] for b in final.queue} != {b for b, s in believed.items() if s in QUEUED}:
            problems.append(f"{where}: the queue holds other bookings than the queued ones")
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
