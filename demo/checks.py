"""The invariants: what the answers, the read-back, the bus and the SMS must agree on once the day is over.

Every rule here is the contract's, written out in the demo's own words (demo/day.py): nothing is
imported from the service, so a mistake in the service cannot hide in the check.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from demo.client import TIER_OF_SOURCE
from demo.day import CONTRACT_CODES, HOLDS_PLACE, LEAVE_CANCELS, QUEUED, SWEEP, DayLog, Event, Leave, SlotPlan

# -- what the checks read ------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalView:
    """What the API, and the store, say about one slot once the day is over."""

    slot: dict[str, Any]  # GET /slots/{id}
    queue: list[dict[str, Any]]  # GET /slots/{id}/queue, its "queue"
    bookings: dict[str, dict[str, Any]]  # GET /bookings/{id} of every booking the day made there
    # The slots collection's document, when the store was read, with its bookings that went to the archive.
    store: dict[str, Any] | None = None
    waitlist: list[dict[str, Any]] = field(default_factory=list)  # GET /slots/{id}/waitlist, its "waitlist"


@dataclass(frozen=True)
class Published:
    """What left the service: the local bus's events (every delivery) and the SMS the local SNS sent."""

    events: list[dict[str, Any]]  # GET /_local/events: EventBridge events, {"detail-type", "detail"}
    sms: list[dict[str, Any]]  # GET /_local/sms: {"phone", "text", "eventId", "at"}, the events' SMS
    codes: list[dict[str, Any]] = field(default_factory=list)  # the SMS of no event: sign-in codes

    def distinct(self) -> dict[str, dict[str, Any]]:
        """Each event once (delivery is at least once: a redelivery has the same eventId), by eventId."""
        found: dict[str, dict[str, Any]] = {}
        for event in self.events:
            detail = event.get("detail", {})
            found.setdefault(str(detail.get("eventId")), {"type": event.get("detail-type"), **detail})
        return found

    def by_slot(self) -> dict[str, list[dict[str, Any]]]:
        """Each slot's events in the order its changes wrote them: by slot version, then place in the change."""
        slots: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in self.distinct().values():
            slots[str(event.get("slotId"))].append(event)
        for events in slots.values():
            events.sort(key=lambda e: (int(e["slotVersion"]), int(str(e["eventId"]).rpartition(":")[2])))
        return dict(slots)


@dataclass(frozen=True)
class Check:
    name: str
    checked: str  # what was looked at
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_day(log: DayLog, finals: dict[str, FinalView], published: Published) -> list[Check]:
    return [
        no_slot_over_a_limit(log, finals),
        no_moment_over_a_limit(log, published),
        tokens_unique(log, finals, published),
        counts_match(log, finals),
        no_place_empty_while_the_waitlist_waits(log, finals, published),
        reschedules_leave_one_place(log, finals),
        closed_slots_take_nothing(log, finals, published),
        at_most_one_sms(log, finals, published),
        every_change_published(log, finals, published),
        repeats_get_the_first_answer(log),
        every_answer_from_the_contract(log),
        the_waitlist_ends_at_start_plus_grace(log, finals, published),
    ]


def _where(slot: SlotPlan) -> str:
    return f"{slot.doctor_id} {slot.label}"


# -- the clinic's time ---------------------------------------------------------------------------


def _time(text: object) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) and text else None


def _hhmm(at: datetime, slot: SlotPlan) -> str:
    """A time as the clinic reads it (in the slot's zone)."""
    return f"{at.astimezone(slot.start.tzinfo):%H:%M}"


def _moment(change: list[dict[str, Any]]) -> datetime | None:
    """When a change on the bus was made, as the service saw it: its events' occurredAt, or the time on the
    history lines it wrote, whichever is later (the local sweeper is told the clinic's time, and writes it on the
    lines; the events' occurredAt is the writer's own clock)."""
    times = [_time(event.get("occurredAt")) for event in change]
    for booking in filter(None, map(_booking_of, change)):
        history = booking.get("history") or []
        times.append(_time(history[-1].get("at")) if history else None)
    return max((t for t in times if t is not None), default=None)


def _waitlist_ends(log: DayLog, slot: SlotPlan, snapshot: dict[str, Any] | None = None) -> datetime:
    """Start + grace: from then on nobody is promoted, and the sweeper ends the waitlist. The slot's start as
    the event carries it, else as the slot was made."""
    start = _time((snapshot or {}).get("start")) or slot.start
    return start + log.grace


def _day_clock(log: DayLog) -> datetime | None:
    """The clinic's time at the end of the day, as far as the service was told it: the last sweep's."""
    return max((sweep.at for sweep in log.sweeps), default=None)


# -- limits --------------------------------------------------------------------------------------


def no_slot_over_a_limit(log: DayLog, finals: dict[str, FinalView]) -> Check:
    """As the answers tell it: every place taken (booked, promoted, moved in) while its tier had room."""
    problems = []
    taken = refused = waitlisted = 0
    for slot in log.slots:
        for point in log.history(slot.slot_id):
            event = point.event
            if point.after > point.before and event.tier:
                taken += 1
                if point.before >= event.limits[event.tier]:
                    problems.append(
                        f"{_where(slot)}: token {event.token} ({event.tier}, {event.action}) took a place with "
                        f"{point.before} held, limit {event.limits[event.tier]}"
                    )
            if event.action == "book" and event.ok and event.booking_status == "WAITLISTED" and point.was is None:
                waitlisted += 1
                if event.tier and point.before < event.limits[event.tier]:
                    problems.append(
                        f"{_where(slot)}: {event.patient} waitlisted with {point.before} held, "
                        f"{event.tier} limit {event.limits[event.tier]}: a place was free"
                    )
            if point.after > event.limits["CRITICAL"]:
                problems.append(f"{_where(slot)}: {point.after} places held, over every limit")
            if event.code in ("SLOT_FULL", "WAITLIST_FULL"):
                refused += 1
                problems.extend(_unjustified_refusal(slot, event))
        final = finals[slot.slot_id]
        for where, count in (("API", final.slot["booked"]), ("store", (final.store or {}).get("booked", 0))):
            if count > final.slot["limits"]["CRITICAL"]:
                problems.append(f"{_where(slot)}: the {where} counts {count}, over every limit")
    checked = (
        f"{taken} places taken, {waitlisted} waitlisted and {refused} SLOT_FULL/WAITLIST_FULL refusals "
        "against the limits of their moment"
    )
    return Check("no slot over a limit (answers)", checked, problems)


def _unjustified_refusal(slot: SlotPlan, event: Event) -> list[str]:
    """A SLOT_FULL (or WAITLIST_FULL) must name the tier's limit of that moment and a count at or above it."""
    detail = event.details[0] if event.details else {}
    if detail.get("tier") != event.tier or detail.get("limit") != event.limits.get(event.tier or ""):
        return [f"{_where(slot)}: {event.code} for {event.tier} with details {detail}"]
    if detail.get("booked", -1) < detail["limit"]:
        return [f"{_where(slot)}: {event.code} with room left: {detail}"]
    return []


def _booking_of(event: dict[str, Any]) -> dict[str, Any] | None:
    booking = event.get("booking")
    return booking if isinstance(booking, dict) else None


def _changes(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """A slot's events grouped by the change (slot version) that wrote them."""
    changes: list[list[dict[str, Any]]] = []
    for event in events:
        if changes and changes[-1][0]["slotVersion"] == event["slotVersion"]:
            changes[-1].append(event)
        else:
            changes.append([event])
    return changes


def no_moment_over_a_limit(log: DayLog, published: Published) -> Check:
    """As the bus tells it, change by change: each write's places given back and taken add up to the count
    its event carries, and every place was taken while its tier's limit (of that write) had room."""
    problems = []
    versions = takes = 0
    names = {s.slot_id: _where(s) for s in log.slots}
    for slot_id, events in published.by_slot().items():
        where = names.get(slot_id, slot_id)
        held, status = 0, dict[str, str]()
        for change in _changes(events):
            versions += 1
            version, snapshot = change[0]["slotVersion"], change[0]["slot"]
            final: dict[str, dict[str, Any]] = {}
            for event in change:
                if (booking := _booking_of(event)) is not None:
                    final[str(booking["bookingId"])] = booking
            gone = [b for b in final if status.get(b) in HOLDS_PLACE and final[b]["status"] not in HOLDS_PLACE]
            held -= len(gone)
            for booking_id, booking in final.items():  # in the order the change told them
                if status.get(booking_id) in HOLDS_PLACE or booking["status"] not in HOLDS_PLACE:
                    continue
                takes += 1
                limit = snapshot["limits"][booking["tier"]]
                if held >= limit:
                    problems.append(
                        f"{where} v{version}: token {booking.get('token')} ({booking['tier']}) took a place with "
                        f"{held} held, limit {limit}"
                    )
                held += 1
            status |= {b: str(booking["status"]) for b, booking in final.items()}
            if held != snapshot["booked"]:
                problems.append(
                    f"{where} v{version}: its events add up to {held} places, its slot says {snapshot['booked']}"
                )
                held = int(snapshot["booked"])
            if held > snapshot["limits"]["CRITICAL"]:
                problems.append(f"{where} v{version}: {held} places held, over every limit")
    checked = f"{versions} changes of {len(published.by_slot())} slots on the bus, {takes} places taken"
    return Check("no slot over any tier's limit at any moment (events)", checked, problems)


# -- tokens --------------------------------------------------------------------------------------


def tokens_unique(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    problems = []
    total = 0
    events = published.by_slot()
    for slot in log.slots:
        where = _where(slot)
        tokens = log.tokens(slot.slot_id)
        problems += _answered_tokens(where, log.slot_events(slot.slot_id), tokens)
        final = finals[slot.slot_id]
        total += sum(1 for b in final.bookings.values() if b.get("token") is not None)
        problems += _read_tokens(where, final, tokens)
        problems += _tokens_in_order(where, events.get(slot.slot_id, []))
    return Check(
        "tokens unique, never reused, waitlisted have none",
        f"{total} tokens in {len(log.slots)} slots, in the answers, the read-back, the store and on the bus",
        problems,
    )


def _answered_tokens(where: str, events: list[Event], tokens: dict[str, int]) -> list[str]:
    """Each booking keeps the token it was first answered with; a waitlisted one has none, a place holder one."""
    problems = []
    for event in events:
        if not (event.ok and event.booking_id):
            continue
        if event.token is not None and tokens.get(event.booking_id) != event.token:
            problems.append(f"{where}: booking {event.booking_id} answered with two tokens")
        if event.booking_status == "WAITLISTED" and event.token is not None:
            problems.append(f"{where}: waitlisted {event.booking_id} answered with token {event.token}")
        if event.booking_status in HOLDS_PLACE and event.token is None:
            problems.append(f"{where}: {event.booking_id} holds a place without a token")
    return problems


def _read_tokens(where: str, final: FinalView, tokens: dict[str, int]) -> list[str]:
    """Read back: tokens 1..n, each once; a token exactly for the bookings that ever held a place."""
    problems = []
    numbers = sorted(b["token"] for b in final.bookings.values() if b.get("token") is not None)
    if len(set(numbers)) != len(numbers):
        problems.append(f"{where}: repeated tokens {sorted(n for n, c in Counter(numbers).items() if c > 1)}")
    elif numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"{where}: tokens are not 1..{len(numbers)}: {numbers}")
    queued = [b["token"] for b in final.queue]
    if len(set(queued)) != len(queued):
        problems.append(f"{where}: the queue repeats a token: {queued}")
    for booking_id, booking in final.bookings.items():
        held = any(line.get("status") in HOLDS_PLACE for line in booking.get("history", []))
        if held != (booking.get("token") is not None):
            problems.append(f"{where}: {booking_id} reads token {booking.get('token')} with history {held=}")
        if booking.get("token") != tokens.get(booking_id):
            problems.append(
                f"{where}: {booking_id} reads token {booking.get('token')}, was answered {tokens.get(booking_id)}"
            )
    if final.store is not None:
        stored = {b["bookingId"]: b["token"] for b in final.store["bookings"] if b.get("token") is not None}
        if len(set(stored.values())) != len(stored) or stored != tokens:
            problems.append(f"{where}: the store's tokens differ from the answers: {stored} vs {tokens}")
    return problems


def _tokens_in_order(where: str, events: list[dict[str, Any]]) -> list[str]:
    """On the bus: each place taken gets a token above every token given before; a waitlisted booking has none."""
    problems = []
    given: dict[str, int] = {}
    for event in events:
        booking = _booking_of(event)
        if booking is None:
            continue
        booking_id, token = str(booking["bookingId"]), booking.get("token")
        if booking["status"] == "WAITLISTED" and token is not None:
            problems.append(f"{where}: {event['type']} of waitlisted {booking_id} carries token {token}")
        if token is None or booking_id in given:
            if token is not None and given[booking_id] != token:
                problems.append(f"{where}: {booking_id} changed token {given[booking_id]} -> {token}")
            continue
        if given and token <= max(given.values()):
            problems.append(f"{where}: token {token} given after token {max(given.values())}: reused or out of order")
        given[booking_id] = token
    return problems


# -- counts --------------------------------------------------------------------------------------


def counts_match(log: DayLog, finals: dict[str, FinalView]) -> Check:
    problems = []
    for slot in log.slots:
        where = _where(slot)
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
        waiting = [b for b, s in believed.items() if s == "WAITLISTED"]
        if [b["bookingId"] for b in final.waitlist] != waiting:
            problems.append(f"{where}: the waitlist reads {[b['bookingId'] for b in final.waitlist]}, not {waiting}")
        if final.slot.get("waitlisted", len(waiting)) != len(waiting):
            problems.append(f"{where}: GET /slots counts {final.slot.get('waitlisted')} waitlisted, not {len(waiting)}")
        for booking_id, status in believed.items():
            read = final.bookings.get(booking_id, {}).get("status")
            if read != status:
                problems.append(f"{where}: {booking_id} reads {read}, its last answer said {status}")
        for point in log.history(slot.slot_id):
            if point.event.booked is not None and point.event.booked != point.after:
                problems.append(
                    f"{where}: the {point.event.action} answer counts {point.event.booked}, not {point.after}"
                )
    for sweep in log.sweeps:
        if sweep.marked != sweep.found:
            problems.append(f"the sweeper marked {sweep.marked} no-shows, the bookings show {sweep.found}")
    bookings = sum(len(f.bookings) for f in finals.values())
    store = "the store, " if all(f.store is not None for f in finals.values()) else ""
    return Check(
        "each slot's count equals its active bookings",
        f"{len(log.slots)} slots: answers, GET /slots, queues, waitlists, {store}{bookings} bookings read back",
        problems,
    )


# -- the waitlist --------------------------------------------------------------------------------


def no_place_empty_while_the_waitlist_waits(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    """A place given back before start + grace goes to the waitlist in the same write: after every change on the
    bus made before then, and at the end, no waitlisted booking waits while its tier has room; a promotion is in
    the booking's history. From start + grace the waitlist is over: a free place beside it is right until the
    sweeper ends it (the_waitlist_ends_at_start_plus_grace checks that end)."""
    changes, problems = _waitlist_on_the_bus(log, published)
    promoted = 0
    clock = _day_clock(log)
    for slot in log.slots:
        final = finals[slot.slot_id]
        over = clock is not None and clock >= _waitlist_ends(log, slot)
        for booking in [] if over else final.waitlist:
            tier = TIER_OF_SOURCE.get(str(booking.get("source")), "")
            if not final.slot["closed"] and final.slot["booked"] < final.slot["limits"].get(tier, 0):
                problems.append(f"{_where(slot)}: at the end {booking['bookingId']} ({tier}) waits beside a free place")
        positions = [b.get("waitlistPosition") for b in final.waitlist]
        if positions != list(range(1, len(positions) + 1)):
            problems.append(f"{_where(slot)}: waitlist positions {positions}")
        for point in log.history(slot.slot_id):
            if point.was != "WAITLISTED" or point.event.booking_status != "BOOKED":
                continue
            promoted += 1
            booking = final.bookings.get(point.event.booking_id or "", {})
            history = [line.get("status") for line in booking.get("history", [])]
            if history[:2] != ["WAITLISTED", "BOOKED"] or point.event.token is None:
                problems.append(
                    f"{_where(slot)}: promoted {point.event.booking_id} has token {point.event.token} "
                    f"and history {history}"
                )
    return Check(
        "no place left empty while a waitlisted booking of a tier with room waits, before start + grace",
        f"{changes} changes on the bus, {sum(len(f.waitlist) for f in finals.values())} still waitlisted at the end, "
        f"{promoted} promotions seen",
        problems,
    )


def _waitlist_on_the_bus(log: DayLog, published: Published) -> tuple[int, list[str]]:
    """After each change of an open slot made before its start + grace, every booking still waitlisted has its
    tier full."""
    problems = []
    plans = {s.slot_id: s for s in log.slots}
    names = {s.slot_id: _where(s) for s in log.slots}
    changes = 0
    for slot_id, events in published.by_slot().items():
        plan = plans.get(slot_id)
        waiting: dict[str, str] = {}  # booking -> tier, in join order
        for change in _changes(events):
            changes += 1
            snapshot = change[0]["slot"]
            for booking in filter(None, map(_booking_of, change)):
                if booking["status"] == "WAITLISTED":
                    waiting[str(booking["bookingId"])] = str(booking["tier"])
                else:
                    waiting.pop(str(booking["bookingId"]), None)
            if snapshot.get("closed"):
                continue
            made = _moment(change)
            if plan is not None and made is not None and made >= _waitlist_ends(log, plan, snapshot):
                continue  # the waitlist is over: nobody is promoted any more
            problems += [
                f"{names.get(slot_id, slot_id)} v{change[0]['slotVersion']}: {booking_id} ({tier}) still waits "
                f"with {snapshot['booked']} held, limit {snapshot['limits'][tier]}"
                for booking_id, tier in waiting.items()
                if snapshot["booked"] < snapshot["limits"][tier]
            ]
    return changes, problems


# -- the waitlist's end -------------------------------------------------------------------------


def the_waitlist_ends_at_start_plus_grace(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    """From start + grace the waitlist is over: nothing is promoted (on the bus, in any booking's history, in
    the sweeper's answers), every booking still waitlisted when the sweeper ran past its slot's start + grace is
    CANCELLED (WAITLIST_EXPIRED), and the sweeper run again at the same time changes nothing."""
    plans = {s.slot_id: s for s in log.slots}
    problems, on_bus = _promotions_on_the_bus(log, published)
    in_histories = 0
    for slot in log.slots:
        ends = _waitlist_ends(log, slot)
        for booking_id, booking in finals[slot.slot_id].bookings.items():
            lines = booking.get("history") or []
            for earlier, later in pairwise(lines):
                if (earlier.get("status"), later.get("status")) != ("WAITLISTED", "BOOKED"):
                    continue
                in_histories += 1
                at = _time(later.get("at"))
                if at is not None and at >= ends:
                    problems.append(
                        f"{_where(slot)}: {booking_id} promoted at {_hhmm(at, slot)} (history), "
                        f"its waitlist was over at {_hhmm(ends, slot)}"
                    )
        problems += [
            f"{_where(slot)}: the sweeper promoted {p.event.booking_id} (token {p.event.token})"
            for p in log.history(slot.slot_id)
            if p.event.phase == SWEEP and p.was == "WAITLISTED" and p.event.booking_status == "BOOKED"
        ]
    bookings = {b: v for f in finals.values() for b, v in f.bookings.items()}
    expired = 0
    ended: set[str] = set()  # each booking once, at the first sweep past its slot's start + grace
    for sweep in log.sweeps:
        for booking_id in sweep.waiting:
            plan = plans.get(log.slot_of_booking.get(booking_id, ""))
            if plan is None or sweep.at < _waitlist_ends(log, plan) or booking_id in ended:
                continue
            ended.add(booking_id)
            read = bookings.get(booking_id, {})
            if (read.get("status"), read.get("cancelReason")) == ("CANCELLED", "WAITLIST_EXPIRED"):
                expired += 1
                continue
            problems.append(
                f"{_where(plan)}: {booking_id} waited when the sweeper ran at {_hhmm(sweep.at, plan)}, reads "
                f"{read.get('status')} {read.get('cancelReason')}, not CANCELLED WAITLIST_EXPIRED"
            )
        when = _hhmm(sweep.at, log.slots[0]) if log.slots else sweep.at.isoformat()
        if sweep.repeat_marked not in (None, 0):
            problems.append(f"the sweeper run again at {when} marked {sweep.repeat_marked}, not 0")
        problems += [f"the sweeper run again at {when} changed {what}" for what in sweep.repeat_changed]
    problems += _changes_at_the_sweeps_time(log, published)
    past = [s for s in log.slots if any(w.at >= _waitlist_ends(log, s) for w in log.sweeps)]
    repeated = sum(1 for sweep in log.sweeps if sweep.repeat_marked is not None)
    return Check(
        "the sweeper promotes nobody, and nothing is promoted from start + grace",
        f"{len(log.sweeps)} sweeps ({repeated} run again at the same time), {len(past)} slots past start + grace, "
        f"{expired} waitlisted bookings expired; {on_bus} promotions on the bus, {in_histories} in histories, "
        "all before start + grace",
        problems,
    )


def _promotions_on_the_bus(log: DayLog, published: Published) -> tuple[list[str], int]:
    """Every BookingPromoted on the bus was made before its slot's start + grace."""
    problems = []
    plans = {s.slot_id: s for s in log.slots}
    promotions = 0
    for slot_id, events in published.by_slot().items():
        slot = plans.get(slot_id)
        for change in _changes(events):
            made = _moment(change)
            for event in change:
                if event["type"] != "BookingPromoted":
                    continue
                promotions += 1
                if slot is None or made is None or made < (ends := _waitlist_ends(log, slot, event.get("slot"))):
                    continue
                problems.append(
                    f"{_where(slot)} v{event['slotVersion']}: BookingPromoted of "
                    f"{(_booking_of(event) or {}).get('bookingId')} at {_hhmm(made, slot)}, "
                    f"its waitlist was over at {_hhmm(ends, slot)}"
                )
    return problems, promotions


def _changes_at_the_sweeps_time(log: DayLog, published: Published) -> list[str]:
    """The sweeper run twice at one time writes each slot once: a second change whose history lines carry that
    time is the second run changing the slot."""
    problems = []
    times = {sweep.at for sweep in log.sweeps if sweep.repeat_marked is not None}
    plans = {s.slot_id: s for s in log.slots}
    for slot_id, events in published.by_slot().items():
        slot = plans.get(slot_id)
        written: dict[datetime, list[int]] = defaultdict(list)
        for change in _changes(events):
            for at in times & _line_times(change):
                written[at].append(int(change[0]["slotVersion"]))
        for at, versions in sorted(written.items()):
            if len(versions) > 1 and slot is not None:
                problems.append(
                    f"{_where(slot)}: {len(versions)} changes written at the sweeper's time {_hhmm(at, slot)} "
                    f"({', '.join(f'v{v}' for v in versions)}): run again, it changed the slot"
                )
    return problems


def _line_times(change: list[dict[str, Any]]) -> set[datetime]:
    """The times of the history lines a change wrote (each booking event's last line)."""
    found = set()
    for booking in filter(None, map(_booking_of, change)):
        history = booking.get("history") or []
        if history and (at := _time(history[-1].get("at"))) is not None:
            found.add(at)
    return found


# -- reschedules ---------------------------------------------------------------------------------


def reschedules_leave_one_place(log: DayLog, finals: dict[str, FinalView]) -> Check:
    """Right after a move the patient holds exactly one place of the two slots (the new one; the old one when
    the move was refused); a repeat of the request answers the same new booking; the two point at each other."""
    problems = []
    bookings = {b: v for f in finals.values() for b, v in f.bookings.items()}
    for move in log.moves:
        who = f"{move.patient} ({move.old_id})"
        held = [
            b["bookingId"]
            for b in move.after
            if b.get("slotId") in (move.old_slot, move.target_slot) and b.get("status") in HOLDS_PLACE
        ]
        expected = move.new_id if move.new_id else move.old_id
        if held != [expected]:
            problems.append(f"{who}: after the move the patient holds {held}, not just {expected}")
        if move.new_id is None:
            old = next((b for b in move.after if b.get("bookingId") == move.old_id), {})
            if old.get("status") != "BOOKED" or old.get("rescheduledTo") is not None:
                problems.append(f"{who}: a refused move ({move.code}) changed the old booking: {old.get('status')}")
            continue
        if (move.repeat_status, move.repeat_id) != (move.status, move.new_id):
            problems.append(f"{who}: the repeat answered {move.repeat_status} {move.repeat_id}, not {move.new_id}")
        old, new = bookings.get(move.old_id, {}), bookings.get(move.new_id, {})
        if (old.get("status"), old.get("cancelReason"), old.get("rescheduledTo")) != (
            "CANCELLED",
            "RESCHEDULED",
            move.new_id,
        ):
            problems.append(f"{who}: the old booking reads {old.get('status')} {old.get('cancelReason')}")
        if new.get("rescheduledFrom") != move.old_id or new.get("source") != old.get("source"):
            problems.append(f"{who}: the new booking {move.new_id} says it came from {new.get('rescheduledFrom')}")
        if [line.get("status") for line in new.get("history", [])][:1] != ["BOOKED"]:
            problems.append(f"{who}: the new booking did not begin BOOKED: {new.get('history')}")
    refused = sum(1 for m in log.moves if m.new_id is None)
    return Check(
        "every reschedule leaves the patient exactly one place",
        f"{len(log.moves) - refused} reschedules and their repeats, {refused} refused",
        problems,
    )


# -- leave ---------------------------------------------------------------------------------------


def closed_slots_take_nothing(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    """A doctor's leave closes the day: no booking gets into a closed slot afterwards (by any road), the waiting
    patients are cancelled (DOCTOR_UNAVAILABLE), and the patient in the room and finished consultations stay."""
    problems = []
    events = published.by_slot()
    attempts = 0
    for leave in log.leaves:
        mine = [s.slot_id for s in log.slots if s.doctor_id == leave.doctor_id]
        if sorted(leave.closed) != sorted(mine) or leave.slots != len(mine):
            problems.append(
                f"{leave.doctor_id}: leave closed {leave.slots} slots, {len(leave.closed)} read closed, of {len(mine)}"
            )
        if not leave.board_closed:
            problems.append(f"{leave.doctor_id}: the board does not show the day closed")
        for slot_id in leave.closed:
            tried, refused_wrongly = _tries_after(log, leave, slot_id)
            attempts += tried
            problems += refused_wrongly
            problems += _bus_after_close(leave, events.get(slot_id, []))
            problems += _bookings_after_leave(leave, finals[slot_id])
        expected = sorted(b for b, s in leave.before.items() if s in LEAVE_CANCELS)
        if sorted(leave.cancelled) != expected:
            problems.append(f"{leave.doctor_id}: the leave cancelled {sorted(leave.cancelled)}, not {expected}")
        if leave.repeat_cancelled:
            problems.append(f"{leave.doctor_id}: the repeat of the leave cancelled {leave.repeat_cancelled} more")
    kept = sum(1 for leave in log.leaves for s in leave.before.values() if s == "COMPLETED")
    return Check(
        "closed slots took no booking after leave",
        f"{len(log.leaves)} leave, {sum(len(v.closed) for v in log.leaves)} slots closed, {attempts} tries after it, "
        f"{kept} completed consultations kept",
        problems,
    )


def _tries_after(log: DayLog, leave: Leave, slot_id: str) -> tuple[int, list[str]]:
    """Every booking or reschedule into the closed slot after the leave: 409 SLOT_CLOSED."""
    tries = [e for e in log.slot_events(slot_id) if e.order >= leave.after_order and e.action in ("book", "reschedule")]
    return len(tries), [
        f"{leave.doctor_id}: after the leave a {e.action} answered {e.status} {e.code}"
        for e in tries
        if e.ok or e.code != "SLOT_CLOSED"
    ]


def _bus_after_close(leave: Leave, events: list[dict[str, Any]]) -> list[str]:
    """On the bus: the slot's SlotClosed, and no booking created, waitlisted or promoted after it."""
    problems = []
    closed = False
    for event in events:
        closed = closed or event["type"] == "SlotClosed"
        if closed and event["type"] in ("BookingCreated", "BookingWaitlisted", "BookingPromoted"):
            booking = _booking_of(event) or {}
            problems.append(f"{leave.doctor_id}: {event['type']} of {booking.get('bookingId')} after SlotClosed")
    if not closed:
        problems.append(f"{leave.doctor_id}: no SlotClosed on the bus for a closed slot")
    return problems


def _bookings_after_leave(leave: Leave, final: FinalView) -> list[str]:
    """Read back: nobody new holds or waits; who waited is cancelled for the doctor; the rest is as it was."""
    problems = []
    for booking_id, booking in final.bookings.items():
        before = leave.before.get(booking_id)
        status, reason = booking.get("status"), booking.get("cancelReason")
        if before is None and status in HOLDS_PLACE | {"WAITLISTED"}:
            problems.append(f"{leave.doctor_id}: {booking_id} came into a closed slot ({status})")
        elif before in LEAVE_CANCELS and (status, reason) != ("CANCELLED", "DOCTOR_UNAVAILABLE"):
            problems.append(f"{leave.doctor_id}: {booking_id} was {before}, reads {status} {reason} after the leave")
        elif before in ("CALLED", "COMPLETED", "CANCELLED", "NO_SHOW") and status != before:
            problems.append(f"{leave.doctor_id}: {booking_id} was {before}, the leave made it {status}")
    return problems


# -- events and SMS ------------------------------------------------------------------------------


def _phones_of(event: dict[str, Any]) -> set[str]:
    """The phones an event concerns: its booking's, or a delay's recipients'."""
    booking = _booking_of(event)
    phones = {str(booking["phone"])} if booking and booking.get("phone") else set()
    return phones | {str(r["phone"]) for r in event.get("recipients") or [] if r.get("phone")}


def at_most_one_sms(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    """One event sends at most one SMS to each phone, and only to a phone the event concerns; so every booking
    with a phone got at most one BookingCreated SMS."""
    problems = []
    events = published.distinct()
    for (event_id, phone), count in Counter((m.get("eventId"), m.get("phone")) for m in published.sms).items():
        event = events.get(str(event_id))
        if event is None:
            problems.append(f"an SMS to {phone} for {event_id}, which is not on the bus")
        elif phone not in _phones_of(event):
            problems.append(f"an SMS to {phone} for {event['type']} {event_id}, which does not concern that phone")
        if count > 1:
            problems.append(f"{count} SMS to {phone} for one event {event_id}")
    created: dict[str, set[str]] = defaultdict(set)
    for event_id, event in events.items():
        if event["type"] == "BookingCreated" and (booking := _booking_of(event)) is not None:
            created[str(booking["bookingId"])].add(event_id)
    with_phone = told = 0
    for final in finals.values():
        for booking_id, booking in final.bookings.items():
            if not booking.get("phone") or not created.get(booking_id):
                continue
            with_phone += 1
            sent = [m for m in published.sms if m.get("eventId") in created[booking_id]]
            told += bool(sent)
            if len(sent) > 1:
                problems.append(f"{booking_id} got {len(sent)} BookingCreated SMS")
    return Check(
        "every booking with a phone got at most one BookingCreated SMS",
        f"{len(published.sms)} SMS; {told} of {with_phone} bookings created with a phone got theirs",
        problems,
    )


# What each line of a booking's history is on the bus (a cancel says RESCHEDULED or not on its booking).
MOVE_EVENTS = {
    (None, "WAITLISTED"): "BookingWaitlisted",
    (None, "BOOKED"): "BookingCreated",
    ("WAITLISTED", "BOOKED"): "BookingPromoted",
    ("BOOKED", "CHECKED_IN"): "BookingCheckedIn",
    ("CALLED", "CHECKED_IN"): "BookingSkipped",
    ("CHECKED_IN", "CALLED"): "BookingCalled",
    ("CALLED", "COMPLETED"): "BookingCompleted",
    ("CHECKED_IN", "COMPLETED"): "BookingCompleted",
    ("CALLED", "NO_SHOW"): "BookingNoShow",
    ("BOOKED", "NO_SHOW"): "BookingNoShow",
}


def _expected_events(booking: dict[str, Any]) -> Counter[str]:
    lines = [str(line.get("status")) for line in booking.get("history", [])]
    expected: Counter[str] = Counter()
    for earlier, later in zip([None, *lines], lines, strict=False):
        if later == "CANCELLED":
            expected["BookingRescheduled" if booking.get("cancelReason") == "RESCHEDULED" else "BookingCancelled"] += 1
        else:
            expected[MOVE_EVENTS.get((earlier, later), f"{earlier}->{later}")] += 1
    return expected


def every_change_published(log: DayLog, finals: dict[str, FinalView], published: Published) -> Check:
    """Every booking's BookingCreated or BookingWaitlisted is on the bus exactly once, and every line of its
    history has its event; every slot its SlotCreated, every delay and leave its slot event."""
    problems = []
    events = published.distinct()
    per_booking: dict[str, Counter[str]] = defaultdict(Counter)
    per_slot: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events.values():
        booking = _booking_of(event)
        if booking is not None:
            per_booking[str(booking["bookingId"])][str(event["type"])] += 1
        else:
            per_slot[str(event["slotId"])][str(event["type"])] += 1
    bookings = 0
    for slot in log.slots:
        where = _where(slot)
        for booking_id, booking in finals[slot.slot_id].bookings.items():
            bookings += 1
            seen = per_booking.get(booking_id, Counter())
            first = _expected_events({"history": booking.get("history", [])[:1]})
            if seen["BookingCreated"] + seen["BookingWaitlisted"] != 1 or seen & first != first:
                problems.append(
                    f"{where}: {booking_id} was made {booking.get('history', [{}])[0].get('status')}, on the bus: "
                    f"{seen['BookingCreated']} BookingCreated, {seen['BookingWaitlisted']} BookingWaitlisted"
                )
            missing = _expected_events(booking) - seen
            if missing:
                problems.append(f"{where}: {booking_id} has history without its events: {dict(missing)}")
        slot_events = per_slot.get(slot.slot_id, Counter())
        delays = sum(1 for e in log.slot_events(slot.slot_id) if e.action == "delay" and e.ok)
        closed = bool(finals[slot.slot_id].slot.get("closed"))
        if (slot_events["SlotCreated"], slot_events["SlotClosed"]) != (1, int(closed)):
            problems.append(f"{where}: {dict(slot_events)} on the bus, closed={closed}")
        if slot_events["SlotDelayChanged"] < delays:
            problems.append(f"{where}: {delays} delays set, {slot_events['SlotDelayChanged']} SlotDelayChanged")
    redelivered = len(published.events) - len(events)
    return Check(
        "events: every booking's BookingCreated/BookingWaitlisted present exactly once",
        f"{len(events)} events ({redelivered} redelivered) for {bookings} bookings and {len(log.slots)} slots",
        problems,
    )


# -- answers -------------------------------------------------------------------------------------


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


def problems_of(checks: Iterable[Check]) -> dict[str, list[str]]:
    return {check.name: check.problems for check in checks if not check.ok}
