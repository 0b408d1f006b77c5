"""The demo's invariant checker and report on a small hand-written day: a sound day passes, each broken one fails.

The day, in four slots with tiny limits (STANDARD 2, PREMIUM 3, CRITICAL 4):

- s1 (dr-a 09:00): p1 and p2 book online (p1 with a key and a phone), p3 is refused, p1 repeats, p3 joins the
  waitlist (phone), p1 cancels and p3 is promoted in that write, p4 pays, p5 is an emergency, p6 is refused;
  p2 reschedules to s2 (twice: the repeat answers the same booking).
- s2 (dr-a 10:00): p2's new booking.
- s3 (dr-b 09:00): q1 books; dr-b goes on leave (q1 cancelled, DOCTOR_UNAVAILABLE); q2 then tries: SLOT_CLOSED.
- s4 (dr-c 08:00, its waitlist over at 08:15): r1 and r2 book, r3 and r4 join the waitlist; r1 checks in and
  leaves (cancelled), r3 gets the place in that write; the sweeper, told 08:16, marks r2 and r3 NO_SHOW and ends
  r4's wait (WAITLIST_EXPIRED), promoting nobody; run again at 08:16 it marks nothing.

With, for each slot, what the API reads back at the end, what the bus carried and the SMS sent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo.checks import FinalView, Published, check_day, problems_of
from demo.client import TIER_OF_SOURCE, Answer
from demo.day import GRACE, DayLog, Leave, Move, SlotPlan, Sweep
from demo.report import day_figures, plot_timeline, report_text, slot_rows

START = datetime(2026, 11, 22, 9, tzinfo=UTC)
S1 = SlotPlan("dr-a", "s1", START, START + timedelta(hours=1))
S2 = SlotPlan("dr-a", "s2", START + timedelta(hours=1), START + timedelta(hours=2))
S3 = SlotPlan("dr-b", "s3", START, START + timedelta(hours=1))
S4 = SlotPlan("dr-c", "s4", START - timedelta(hours=1), START)
SWEPT_AT = S4.start + GRACE + timedelta(minutes=1)  # 08:16: past s4's start + grace, before the others'
LIMITS = {"STANDARD": 2, "PREMIUM": 3, "CRITICAL": 4}  # a tiny slot: base 2, +1 premium, +1 emergency
PHONES = {"p1": "+919800000001", "p3": "+919800000003"}
SOURCES = {"p4": "PAID", "p5": "EMERGENCY", "p6": "EMERGENCY"}

LIMIT = "no slot over a limit (answers)"
MOMENT = "no slot over any tier's limit at any moment (events)"
TOKENS = "tokens unique, never reused, waitlisted have none"
COUNTS = "each slot's count equals its active bookings"
WAITLIST = "no place left empty while a waitlisted booking of a tier with room waits, before start + grace"
RESCHEDULE = "every reschedule leaves the patient exactly one place"
LEAVE = "closed slots took no booking after leave"
SMS = "every booking with a phone got at most one BookingCreated SMS"
EVENTS = "events: every booking's BookingCreated/BookingWaitlisted present exactly once"
SWEEPER = "the sweeper promotes nobody, and nothing is promoted from start + grace"
REPEATS = "repeats get the first answer"
CONTRACT = "every answer from the contract"


# -- answers -------------------------------------------------------------------------------------


def body(slot: str, patient: str, status: str, token: int | None, **extra: Any) -> dict[str, Any]:
    source = SOURCES.get(patient, "ONLINE")
    return {
        "bookingId": f"{slot}.{patient}",
        "slotId": slot,
        "patientId": patient,
        "source": source,
        "tier": TIER_OF_SOURCE[source],
        "token": token,
        "status": status,
        "phone": PHONES.get(patient),
        **extra,
    }


def booked(slot: str, patient: str, token: int | None, status: str = "BOOKED", busy: int = 0) -> Answer:
    return Answer(201, body(slot, patient, status, token), busy + 1, busy)


def moved(slot: str, patient: str, token: int | None, status: str, **extra: Any) -> Answer:
    return Answer(200, body(slot, patient, status, token, **extra))


def refused(code: str, status: int = 409, **detail: Any) -> Answer:
    return Answer(status, {"error": {"code": code, "message": code, "details": [detail] if detail else []}})


def full(tier: str, limit: int, count: int) -> Answer:
    return refused("SLOT_FULL", tier=tier, limit=limit, booked=count)


# What the sweeper did with r4, still waitlisted at 08:16: as the contract says, or as a broken service would.
EXPIRED, PROMOTED, LEFT = "expired", "promoted", "left waitlisted"


def a_log(paid_source: str = "PAID", paid_token: int = 4, repeat: Answer | None = None, r4: str = EXPIRED) -> DayLog:
    log = DayLog([S1, S2, S3, S4], {"s1": LIMITS, "s2": LIMITS, "s3": LIMITS, "s4": LIMITS})
    log.booked("rush", "s1", "p1", "ONLINE", booked("s1", "p1", 1), key="k1")
    log.booked("rush", "s1", "p2", "ONLINE", booked("s1", "p2", 2, busy=2))
    log.booked("rush", "s1", "p3", "ONLINE", full("STANDARD", 2, 2))
    log.booked("again", "s1", "p1", "ONLINE", repeat or booked("s1", "p1", 1), key="k1")
    log.booked("waitlist", "s1", "p3", "ONLINE", booked("s1", "p3", None, "WAITLISTED"), waitlist=True)
    log.became("cancel", "s1.p1", "cancel", moved("s1", "p1", 1, "CANCELLED"))
    log.became("cancel", "s1.p3", "promoted", moved("s1", "p3", 3, "BOOKED"))
    log.booked("paid", "s1", "p4", paid_source, booked("s1", "p4", paid_token))
    log.booked("emergency", "s1", "p5", "EMERGENCY", booked("s1", "p5", 5))
    log.booked("emergency", "s1", "p6", "EMERGENCY", full("CRITICAL", 4, 4))
    new = Answer(201, body("s2", "p2", "BOOKED", 1, rescheduledFrom="s1.p2"))
    log.rescheduled("move", "s1.p2", "s2", new)
    log.rescheduled("move", "s1.p2", "s2", new)
    log.became("move", "s1.p2", "moved away", moved("s1", "p2", 2, "CANCELLED"))
    log.moves.append(
        Move("p2", "s1.p2", "s1", "s2", 201, None, "s2.p2", 201, "s2.p2", tuple(patient_list("p2").values()))
    )
    log.booked("rush", "s3", "q1", "ONLINE", booked("s3", "q1", 1))
    after = len(log.events)
    log.became("leave", "s3.q1", "leave-cancel", moved("s3", "q1", 1, "CANCELLED"))
    log.booked("leave", "s3", "q2", "ONLINE", refused("SLOT_CLOSED"))
    log.leaves.append(Leave("dr-b", "2026-11-22", after, 1, ("s3.q1",), 0, ("s3",), True, {"s3.q1": "BOOKED"}))
    swept_s4(log, r4)
    return log


def swept_s4(log: DayLog, r4: str) -> None:
    """s4's morning, then the sweeper at 08:16, and the same run again (which marks nothing)."""
    log.booked("rush", "s4", "r1", "ONLINE", booked("s4", "r1", 1))
    log.booked("rush", "s4", "r2", "ONLINE", booked("s4", "r2", 2))
    log.booked("waitlist", "s4", "r3", "ONLINE", booked("s4", "r3", None, "WAITLISTED"), waitlist=True)
    log.booked("waitlist", "s4", "r4", "ONLINE", booked("s4", "r4", None, "WAITLISTED"), waitlist=True)
    log.became("room", "s4.r1", "check-in", moved("s4", "r1", 1, "CHECKED_IN"))
    log.became("room", "s4.r1", "cancel", moved("s4", "r1", 1, "CANCELLED", cancelReason="STAFF"))  # r1 left
    log.became("room", "s4.r3", "promoted", moved("s4", "r3", 3, "BOOKED"))
    waiting = tuple(b for slot in log.slots for b in log.in_status(slot.slot_id, "WAITLISTED"))
    log.became("sweeper", "s4.r2", "swept", moved("s4", "r2", 2, "NO_SHOW"))
    log.became("sweeper", "s4.r3", "swept", moved("s4", "r3", 3, "NO_SHOW"))
    if r4 == EXPIRED:
        log.became("sweeper", "s4.r4", "expired", moved("s4", "r4", None, "CANCELLED", cancelReason="WAITLIST_EXPIRED"))
    elif r4 == PROMOTED:  # the v2 sweeper: the no-shows' places went to the waitlist
        log.became("sweeper", "s4.r4", "promoted", moved("s4", "r4", 4, "BOOKED"))
    else:
        log.became("sweeper", "s4.r4", "read", moved("s4", "r4", None, "WAITLISTED"))
    log.sweeps.append(Sweep(SWEPT_AT, 2, 2, waiting, repeat_marked=0))


def patient_list(patient: str) -> dict[str, dict[str, Any]]:
    """GET /patients/p2/bookings right after the move: the old booking cancelled, the new one booked."""
    old = body("s1", "p2", "CANCELLED", 2, cancelReason="RESCHEDULED", rescheduledTo="s2.p2")
    return {"s1.p2": old, "s2.p2": body("s2", "p2", "BOOKED", 1, rescheduledFrom="s1.p2")}


# -- the read-back -------------------------------------------------------------------------------


def line(*statuses: str) -> list[dict[str, Any]]:
    return [
        {"status": s, "at": (START - timedelta(minutes=30 - n)).isoformat(), "by": "x"} for n, s in enumerate(statuses)
    ]


def read(slot: str, patient: str, token: int | None, *history: str, **extra: Any) -> dict[str, Any]:
    return body(slot, patient, history[-1], token, history=line(*history), **extra)


def s4_line(*statuses: str, swept: int = 0) -> list[dict[str, Any]]:
    """s4's history lines: before its start, but the last `swept` written by the sweeper at 08:16."""
    kept = len(statuses) - swept
    return [
        {"status": s, "at": (S4.start - timedelta(minutes=30 - n)).isoformat(), "by": "x"}
        if n < kept
        else {"status": s, "at": SWEPT_AT.isoformat(), "by": "system"}
        for n, s in enumerate(statuses)
    ]


def s4_read(patient: str, token: int | None, *history: str, swept: int = 0, **extra: Any) -> dict[str, Any]:
    return body("s4", patient, history[-1], token, history=s4_line(*history, swept=swept), **extra)


def r4_read(r4: str) -> dict[str, Any]:
    if r4 == EXPIRED:
        return s4_read("r4", None, "WAITLISTED", "CANCELLED", swept=1, cancelReason="WAITLIST_EXPIRED")
    if r4 == PROMOTED:
        return s4_read("r4", 4, "WAITLISTED", "BOOKED", swept=1)
    return s4_read("r4", None, "WAITLISTED", waitlistPosition=1)


def finals_of(
    paid_token: int = 4, booked_count: int = 3, store_count: int = 3, r4: str = EXPIRED
) -> dict[str, FinalView]:
    """What a correct service answers after `a_log()`, written out by hand."""
    s1 = {
        "s1.p1": read("s1", "p1", 1, "BOOKED", "CANCELLED", cancelReason="PATIENT"),
        "s1.p2": read("s1", "p2", 2, "BOOKED", "CANCELLED", cancelReason="RESCHEDULED", rescheduledTo="s2.p2"),
        "s1.p3": read("s1", "p3", 3, "WAITLISTED", "BOOKED"),
        "s1.p4": read("s1", "p4", paid_token, "BOOKED"),
        "s1.p5": read("s1", "p5", 5, "BOOKED"),
    }
    s2 = {"s2.p2": read("s2", "p2", 1, "BOOKED", rescheduledFrom="s1.p2")}
    s3 = {"s3.q1": read("s3", "q1", 1, "BOOKED", "CANCELLED", cancelReason="DOCTOR_UNAVAILABLE")}
    s4 = {
        "s4.r1": s4_read("r1", 1, "BOOKED", "CHECKED_IN", "CANCELLED", cancelReason="STAFF"),
        "s4.r2": s4_read("r2", 2, "BOOKED", "NO_SHOW", swept=1),
        "s4.r3": s4_read("r3", 3, "WAITLISTED", "BOOKED", "NO_SHOW", swept=1),
        "s4.r4": r4_read(r4),
    }

    def view(slot_id: str, bookings: dict[str, dict[str, Any]], queue: list[str], count: int, **slot: Any) -> FinalView:
        fields = {"slotId": slot_id, "booked": count, "limits": LIMITS, "delayed": False, "closed": False}
        store = {"_id": slot_id, "booked": count, "bookings": list(bookings.values())}
        return FinalView(fields | {"waitlisted": 0} | slot, [bookings[b] for b in queue], bookings, store, [])

    return {
        "s1": replace(
            view("s1", s1, ["s1.p5", "s1.p3", "s1.p4"], booked_count),
            store={"_id": "s1", "booked": store_count, "bookings": list(s1.values())},
        ),
        "s2": view("s2", s2, ["s2.p2"], 1),
        "s3": view("s3", s3, [], 0, closed=True),
        "s4": view("s4", s4, ["s4.r4"] if r4 == PROMOTED else [], int(r4 == PROMOTED))
        if r4 != LEFT
        else replace(view("s4", s4, [], 0, waitlisted=1), waitlist=[s4["s4.r4"]]),
    }


# -- the bus and the SMS -------------------------------------------------------------------------


def event(kind: str, slot: str, version: int, seq: int, booked: int, booking: dict[str, Any] | None = None,
          **slot_fields: Any) -> dict[str, Any]:  # fmt: skip
    detail: dict[str, Any] = {
        "eventId": f"{slot}:{version}:{seq}",
        "occurredAt": (START - timedelta(hours=1, minutes=-version)).isoformat(),
        "slotId": slot,
        "slotVersion": version,
        "slot": {"slotId": slot, "booked": booked, "limits": LIMITS, "closed": False, "delayed": False} | slot_fields,
    }
    if booking is not None:
        detail["booking"] = booking
    return {"detail-type": kind, "source": "opd", "detail": detail}


def bus_of(r4: str = EXPIRED) -> list[dict[str, Any]]:
    return [*bus_of_s1_to_s3(), *bus_of_s4(r4)]


def bus_of_s4(r4: str) -> list[dict[str, Any]]:
    """s4's changes: the sweeper's (v7) written at 08:16 as its bookings' history says (the writer's clock, in
    occurredAt, may be another: the local stack's sweeper is told the clinic's time, the writer keeps its own)."""
    b = body
    swept = 1 if r4 == PROMOTED else 0  # places held after the sweep
    last = []  # r4's event in the sweeper's change
    if r4 == EXPIRED:
        ended = {"cancelReason": "WAITLIST_EXPIRED", "history": s4_line("WAITLISTED", "CANCELLED", swept=1)}
        last = [("BookingCancelled", b("s4", "r4", "CANCELLED", None, **ended))]
    elif r4 == PROMOTED:
        last = [("BookingPromoted", b("s4", "r4", "BOOKED", 4, history=s4_line("WAITLISTED", "BOOKED", swept=1)))]
    sweep = [
        ("BookingNoShow", b("s4", "r2", "NO_SHOW", 2, history=s4_line("BOOKED", "NO_SHOW", swept=1))),
        ("BookingNoShow", b("s4", "r3", "NO_SHOW", 3, history=s4_line("WAITLISTED", "BOOKED", "NO_SHOW", swept=1))),
        *last,
    ]
    return [
        event("SlotCreated", "s4", 0, 0, 0),
        event("BookingCreated", "s4", 1, 0, 1, b("s4", "r1", "BOOKED", 1)),
        event("BookingCreated", "s4", 2, 0, 2, b("s4", "r2", "BOOKED", 2)),
        event("BookingWaitlisted", "s4", 3, 0, 2, b("s4", "r3", "WAITLISTED", None)),
        event("BookingWaitlisted", "s4", 4, 0, 2, b("s4", "r4", "WAITLISTED", None)),
        event("BookingCheckedIn", "s4", 5, 0, 2, b("s4", "r1", "CHECKED_IN", 1)),
        event("BookingCancelled", "s4", 6, 0, 2, b("s4", "r1", "CANCELLED", 1, cancelReason="STAFF")),
        event("BookingPromoted", "s4", 6, 1, 2, b("s4", "r3", "BOOKED", 3)),
        *(event(kind, "s4", 7, seq, swept, booking) for seq, (kind, booking) in enumerate(sweep)),
    ]


def bus_of_s1_to_s3() -> list[dict[str, Any]]:
    b = body
    return [
        event("SlotCreated", "s1", 0, 0, 0),
        event("BookingCreated", "s1", 1, 0, 1, b("s1", "p1", "BOOKED", 1)),
        event("BookingCreated", "s1", 2, 0, 2, b("s1", "p2", "BOOKED", 2)),
        event("BookingWaitlisted", "s1", 3, 0, 2, b("s1", "p3", "WAITLISTED", None)),
        event("BookingCancelled", "s1", 4, 0, 2, b("s1", "p1", "CANCELLED", 1, cancelReason="PATIENT")),
        event("BookingPromoted", "s1", 4, 1, 2, b("s1", "p3", "BOOKED", 3)),
        event("BookingCreated", "s1", 5, 0, 3, b("s1", "p4", "BOOKED", 4)),
        event("BookingCreated", "s1", 6, 0, 4, b("s1", "p5", "BOOKED", 5)),
        event("BookingRescheduled", "s1", 8, 0, 3, b("s1", "p2", "CANCELLED", 2, cancelReason="RESCHEDULED")),
        event("SlotCreated", "s2", 0, 0, 0),
        event("BookingCreated", "s2", 1, 0, 1, b("s2", "p2", "BOOKED", 1)),
        event("SlotCreated", "s3", 0, 0, 0),
        event("BookingCreated", "s3", 1, 0, 1, b("s3", "q1", "BOOKED", 1)),
        event("SlotClosed", "s3", 2, 0, 0, closed=True),
        event("BookingCancelled", "s3", 2, 1, 0, b("s3", "q1", "CANCELLED", 1), closed=True),
    ]


def sms_of() -> list[dict[str, Any]]:
    return [
        {"phone": PHONES["p1"], "text": "OPD: booked, token 1", "eventId": "s1:1:0", "at": "x"},
        {"phone": PHONES["p3"], "text": "OPD: a place came free, token 3", "eventId": "s1:4:1", "at": "x"},
    ]


@dataclass
class Day:
    log: DayLog
    finals: dict[str, FinalView]
    bus: list[dict[str, Any]]
    sms: list[dict[str, Any]]

    def failing(self) -> dict[str, list[str]]:
        return problems_of(check_day(self.log, self.finals, Published(self.bus, self.sms)))


def a_day(**log_changes: Any) -> Day:
    return Day(a_log(**log_changes), finals_of(), bus_of(), sms_of())


def a_day_whose_sweeper(r4: str) -> Day:
    """The day, with the sweeper doing `r4` to the booking still waitlisted at 08:16: answers, read-back and bus
    agree with each other, so only the rule it breaks can fail."""
    return Day(a_log(r4=r4), finals_of(r4=r4), bus_of(r4), sms_of())


# -- a sound day ---------------------------------------------------------------------------------


def test_a_sound_day_passes_every_check() -> None:
    day = a_day()
    checks = check_day(day.log, day.finals, Published(day.bus, day.sms))

    assert [c.name for c in checks] == [
        LIMIT,
        MOMENT,
        TOKENS,
        COUNTS,
        WAITLIST,
        RESCHEDULE,
        LEAVE,
        SMS,
        EVENTS,
        REPEATS,
        CONTRACT,
        SWEEPER,
    ]
    assert all(c.ok for c in checks), [c.problems for c in checks]
    sweeper = checks[-1]
    assert sweeper.checked == (
        "1 sweeps (1 run again at the same time), 1 slots past start + grace, 1 waitlisted bookings expired; "
        "2 promotions on the bus, 2 in histories, all before start + grace"
    )


def test_a_redelivered_event_is_not_a_second_event() -> None:
    day = a_day()
    day.bus.append(copy.deepcopy(day.bus[1]))  # at least once: the same eventId again

    assert day.failing() == {}


# -- limits, as the answers tell them (v1) -------------------------------------------------------


def test_a_booking_past_its_tier_limit_fails() -> None:
    # p4 as a walk-in: two were held, the STANDARD limit is 2, yet it was booked.
    problems = a_day(paid_source="WALKIN").failing()

    assert list(problems) == [LIMIT]
    assert "token 4 (STANDARD, book) took a place with 2 held, limit 2" in problems[LIMIT][0]


def test_more_held_than_the_critical_limit_fails() -> None:
    day = a_day()
    day.log.booked("emergency", "s1", "p8", "EMERGENCY", booked("s1", "p8", 6))
    day.log.booked("emergency", "s1", "p9", "EMERGENCY", booked("s1", "p9", 7))

    assert "token 7 (CRITICAL, book) took a place with 4 held, limit 4" in day.failing()[LIMIT][0]


def test_a_waitlisted_booking_while_its_tier_had_room_fails() -> None:
    day = a_day()
    day.log.booked("late", "s2", "p9", "ONLINE", booked("s2", "p9", None, "WAITLISTED"), waitlist=True)

    assert "p9 waitlisted with 1 held, STANDARD limit 2: a place was free" in day.failing()[LIMIT][0]


def test_a_slot_full_with_room_left_fails() -> None:
    day = a_day()
    day.log.booked("late", "s2", "p9", "PAID", full("PREMIUM", 3, 1))

    assert list(day.failing()) == [LIMIT]


def test_a_slot_full_naming_another_limit_fails() -> None:
    day = a_day()
    day.log.booked("late", "s1", "p9", "PAID", full("PREMIUM", 12, 14))

    assert list(day.failing()) == [LIMIT]


def test_a_burst_is_checked_in_token_order() -> None:
    # Answers of a burst arrive in any order: by arrival, token 3 would look like the third booking
    # of a full slot; by token it was the third, made while two were held (PREMIUM limit 3).
    log = DayLog([S1], {"s1": LIMITS})
    log.booked("rush", "s1", "p4", "PAID", booked("s1", "p4", 3))
    log.booked("rush", "s1", "p1", "ONLINE", booked("s1", "p1", 1))
    log.booked("rush", "s1", "p2", "ONLINE", booked("s1", "p2", 2))
    log.settle_burst("rush")

    assert [(p.event.token, p.before) for p in log.history("s1")] == [(1, 0), (2, 1), (3, 2)]
    assert check_day(log, {"s1": _final_of(log)}, Published([], []))[0].ok


def test_a_delay_lowers_the_limits_for_later_bookings() -> None:
    log = DayLog([S1], {"s1": LIMITS})
    log.booked("rush", "s1", "p1", "ONLINE", booked("s1", "p1", 1))
    delayed = LIMITS | {"STANDARD": 1, "PREMIUM": 2}
    log.delayed("delay", "s1", Answer(200, {"slotId": "s1", "booked": 1, "limits": delayed}))
    log.booked("walk-in", "s1", "p2", "WALKIN", booked("s1", "p2", 2))  # 1 held, the delayed limit is 1

    assert check_day(log, {"s1": _final_of(log)}, Published([], []))[0].problems


# -- limits at every moment, as the bus tells them -----------------------------------------------


def test_a_place_taken_on_the_bus_past_its_tier_limit_fails() -> None:
    # The answers may be right and the service still wrong in a write nobody answered for (a promotion):
    # here a STANDARD booking of another patient is promoted while 3 places are held, limit 2.
    day = a_day()
    day.bus.append(event("BookingPromoted", "s1", 9, 0, 4, body("s1", "px", "BOOKED", 6)))

    problems = day.failing()
    assert list(problems) == [MOMENT]
    assert "dr-a 09:00 v9: token 6 (STANDARD) took a place with 3 held, limit 2" in problems[MOMENT][0]


def test_a_change_whose_events_do_not_add_up_fails() -> None:
    # v5's BookingCreated lost: after v6 the slot says 4 places, its events account for 3.
    day = a_day()
    day.bus = [e for e in day.bus if e["detail"]["eventId"] != "s1:5:0"]

    problems = day.failing()
    assert MOMENT in problems
    assert "dr-a 09:00 v6: its events add up to 3 places, its slot says 4" in problems[MOMENT]


# -- tokens --------------------------------------------------------------------------------------


def test_a_repeated_token_fails() -> None:
    day = a_day(paid_token=2)
    day.finals = finals_of(paid_token=2)

    problems = day.failing()
    assert TOKENS in problems
    assert "repeated tokens [2]" in problems[TOKENS][0]


def test_a_gap_in_the_tokens_fails() -> None:
    day = a_day(paid_token=9)
    day.finals = finals_of(paid_token=9)

    assert TOKENS in day.failing()


def test_a_waitlisted_answer_with_a_token_fails() -> None:
    day = a_day()
    day.log.events[4] = replace(day.log.events[4], token=7)

    assert "waitlisted s1.p3 answered with token 7" in "\n".join(day.failing()[TOKENS])


def test_a_token_given_again_on_the_bus_fails() -> None:
    # p3's promotion carries token 2, which p2 already had: a token reused.
    day = a_day()
    day.bus[5] = event("BookingPromoted", "s1", 4, 1, 2, body("s1", "p3", "BOOKED", 2))

    problems = day.failing()
    assert list(problems) == [TOKENS]
    assert "token 2 given after token 2: reused or out of order" in problems[TOKENS][0]


def test_a_booking_that_never_held_a_place_read_back_with_a_token_fails() -> None:
    day = a_day()
    day.finals["s1"].bookings["s1.p3"]["history"] = line("WAITLISTED", "CANCELLED")
    day.finals["s1"].bookings["s1.p3"]["status"] = "BOOKED"

    assert "s1.p3 reads token 3 with history held=False" in "\n".join(day.failing()[TOKENS])


# -- counts --------------------------------------------------------------------------------------


def test_a_slot_count_that_is_not_its_held_places_fails() -> None:
    day = a_day()
    day.finals = finals_of(booked_count=2)

    assert list(day.failing()) == [COUNTS]


def test_the_store_document_is_checked_too() -> None:
    day = a_day()
    day.finals = finals_of(store_count=2)

    problems = day.failing()
    assert list(problems) == [COUNTS]
    assert "the store's count" in problems[COUNTS][0]


def test_a_booking_read_back_in_another_status_fails() -> None:
    day = a_day()
    day.finals["s1"].bookings["s1.p4"]["status"] = "NO_SHOW"

    assert COUNTS in day.failing()


def test_a_sweep_that_marked_other_bookings_than_were_found_fails() -> None:
    day = a_day()
    day.log.sweeps.append(Sweep(SWEPT_AT, 3, 2))

    assert list(day.failing()) == [COUNTS]


# -- the waitlist --------------------------------------------------------------------------------


def test_a_place_given_back_without_promoting_the_waitlist_fails() -> None:
    # p1's cancel wrote v4 without p3's promotion; p3 was promoted only by the next change.
    day = a_day()
    renumbered = []
    for e in day.bus:
        detail = e["detail"]
        version = detail["slotVersion"]
        if detail["slotId"] == "s1" and (version > 4 or detail["eventId"] == "s1:4:1"):
            seq = 0 if version == 4 else int(detail["eventId"].rpartition(":")[2])
            detail = detail | {"slotVersion": version + 1, "eventId": f"s1:{version + 1}:{seq}"}
        if detail["eventId"] == "s1:4:0":
            detail = detail | {"slot": detail["slot"] | {"booked": 1}}
        renumbered.append(e | {"detail": detail})
    day.bus = renumbered
    day.sms[1]["eventId"] = "s1:5:0"

    problems = day.failing()
    assert list(problems) == [WAITLIST]
    assert "dr-a 09:00 v4: s1.p3 (STANDARD) still waits with 1 held, limit 2" in problems[WAITLIST][0]


def test_a_waitlisted_booking_beside_a_free_place_at_the_end_fails() -> None:
    day = a_day()
    waiting = read("s2", "p7", None, "WAITLISTED", waitlistPosition=1)
    day.finals["s2"] = replace(day.finals["s2"], waitlist=[waiting])

    assert "at the end s2.p7 (STANDARD) waits beside a free place" in day.failing()[WAITLIST][0]


def test_a_promotion_missing_from_the_history_fails() -> None:
    day = a_day()
    day.finals["s1"].bookings["s1.p3"]["history"] = line("BOOKED")

    assert any("promoted s1.p3" in p for p in day.failing()[WAITLIST])


# -- the waitlist's end: start + grace and the sweeper (v3) ---------------------------------------


def test_a_promotion_by_the_sweeper_fails() -> None:
    # The v2 sweeper gave the no-shows' places to the waitlist: r4 BOOKED at 08:16, its waitlist over at 08:15.
    problems = a_day_whose_sweeper(PROMOTED).failing()

    assert list(problems) == [SWEEPER]
    assert problems[SWEEPER] == [
        "dr-c 08:00 v7: BookingPromoted of s4.r4 at 08:16, its waitlist was over at 08:15",
        "dr-c 08:00: s4.r4 promoted at 08:16 (history), its waitlist was over at 08:15",
        "dr-c 08:00: the sweeper promoted s4.r4 (token 4)",
        "dr-c 08:00: s4.r4 waited when the sweeper ran at 08:16, reads BOOKED None, not CANCELLED WAITLIST_EXPIRED",
    ]


def test_a_promotion_from_start_plus_grace_fails_whoever_made_it() -> None:
    # r1 left at 08:15, not before: the waitlist was over, so r3 must not have had the place.
    day = a_day()
    for e in day.bus:
        if e["detail"]["eventId"] in ("s4:6:0", "s4:6:1"):
            e["detail"]["occurredAt"] = (S4.start + GRACE).isoformat()

    problems = day.failing()
    assert list(problems) == [SWEEPER]
    assert problems[SWEEPER] == ["dr-c 08:00 v6: BookingPromoted of s4.r3 at 08:15, its waitlist was over at 08:15"]


def test_a_waitlisted_booking_left_waitlisted_after_the_sweep_fails() -> None:
    # The sweeper ran past s4's start + grace and left r4 WAITLISTED beside two free places. A free place beside
    # the waitlist is no failure from start + grace on: only the sweeper's part fails.
    problems = a_day_whose_sweeper(LEFT).failing()

    assert list(problems) == [SWEEPER]
    assert problems[SWEEPER] == [
        "dr-c 08:00: s4.r4 waited when the sweeper ran at 08:16, reads WAITLISTED None, not CANCELLED WAITLIST_EXPIRED"
    ]


def test_before_start_plus_grace_the_waitlist_must_take_a_free_place() -> None:
    # The same day with a 2-hour grace: at 08:16 s4's waitlist was not over, so r4 waiting beside free places fails
    # as before, and the sweeper owed r4 nothing.
    day = a_day_whose_sweeper(LEFT)
    day.log.grace = timedelta(hours=2)

    problems = day.failing()
    assert list(problems) == [WAITLIST]
    assert problems[WAITLIST] == [
        "dr-c 08:00 v7: s4.r4 (STANDARD) still waits with 0 held, limit 2",
        "dr-c 08:00: at the end s4.r4 (STANDARD) waits beside a free place",
    ]


def test_a_second_sweep_that_changes_something_fails() -> None:
    day = a_day()
    changed = ("dr-c 08:00: GET /slots read booked 0, waitlisted 0, then booked 0, waitlisted 1",)
    day.log.sweeps[0] = replace(day.log.sweeps[0], repeat_marked=1, repeat_changed=changed)

    problems = day.failing()
    assert list(problems) == [SWEEPER]
    assert problems[SWEEPER] == [
        "the sweeper run again at 08:16 marked 1, not 0",
        "the sweeper run again at 08:16 changed dr-c 08:00: GET /slots read booked 0, waitlisted 0, then booked 0, "
        "waitlisted 1",
    ]


def test_a_second_change_written_at_the_sweeps_time_fails() -> None:
    # The bus shows what the second run wrote even when its answer and the counts hide it.
    day = a_day()
    again = event(
        "BookingNoShow", "s4", 8, 0, 0, body("s4", "r2", "NO_SHOW", 2, history=s4_line("BOOKED", "NO_SHOW", swept=1))
    )
    day.bus.append(again)

    assert (
        "dr-c 08:00: 2 changes written at the sweeper's time 08:16 (v7, v8): run again, it changed the slot"
        in (day.failing()[SWEEPER])
    )


# -- reschedules ---------------------------------------------------------------------------------


def test_a_repeated_reschedule_that_makes_another_booking_fails() -> None:
    day = a_day()
    day.log.moves[0] = replace(day.log.moves[0], repeat_id="s2.other")

    problems = day.failing()
    assert list(problems) == [RESCHEDULE]
    assert "the repeat answered 201 s2.other, not s2.p2" in problems[RESCHEDULE][0]


def test_a_reschedule_that_leaves_two_places_fails() -> None:
    day = a_day()
    both = patient_list("p2")
    both["s1.p2"] = body("s1", "p2", "BOOKED", 2)
    day.log.moves[0] = replace(day.log.moves[0], after=tuple(both.values()))

    assert "holds ['s1.p2', 's2.p2'], not just s2.p2" in day.failing()[RESCHEDULE][0]


def test_a_refused_reschedule_that_still_moved_the_booking_fails() -> None:
    day = a_day()
    gone = patient_list("p2")["s1.p2"]
    day.log.moves.append(Move("p2", "s1.p2", "s1", "s3", 409, "SLOT_FULL", None, after=(gone,)))

    assert "after the move the patient holds [], not just s1.p2" in day.failing()[RESCHEDULE][0]


def test_a_new_booking_that_does_not_point_back_fails() -> None:
    day = a_day()
    day.finals["s2"].bookings["s2.p2"]["rescheduledFrom"] = None

    assert list(day.failing()) == [RESCHEDULE]


# -- leave ---------------------------------------------------------------------------------------


def test_a_booking_into_a_closed_slot_fails() -> None:
    day = a_day()
    day.log.booked("leave", "s3", "q3", "ONLINE", booked("s3", "q3", 2))

    problems = day.failing()
    assert LEAVE in problems
    assert "after the leave a book answered 201 None" in problems[LEAVE][0]


def test_a_booking_created_on_the_bus_after_slot_closed_fails() -> None:
    day = a_day()
    day.bus.append(event("BookingWaitlisted", "s3", 3, 0, 0, body("s3", "q4", "WAITLISTED", None), closed=True))

    assert "BookingWaitlisted of s3.q4 after SlotClosed" in "\n".join(day.failing()[LEAVE])


def test_a_leave_that_leaves_a_waiting_patient_fails() -> None:
    day = a_day()
    q1 = day.finals["s3"].bookings["s3.q1"]
    q1.update(status="BOOKED", cancelReason=None)
    day.finals["s3"] = replace(day.finals["s3"], queue=[q1], slot=day.finals["s3"].slot | {"booked": 1})
    day.finals["s3"].store["booked"] = 1  # type: ignore[index]
    day.log.leaves[0] = replace(day.log.leaves[0], cancelled=())

    problems = day.failing()[LEAVE]
    assert "s3.q1 was BOOKED, reads BOOKED None after the leave" in problems[0]
    assert "the leave cancelled [], not ['s3.q1']" in problems[1]


def test_a_leave_that_touches_a_finished_consultation_fails() -> None:
    day = a_day()
    done = read("s3", "q0", 2, "BOOKED", "CHECKED_IN", "CALLED", "COMPLETED")
    day.finals["s3"].bookings["s3.q0"] = done | {"status": "CANCELLED"}
    day.log.leaves[0] = replace(day.log.leaves[0], before={"s3.q1": "BOOKED", "s3.q0": "COMPLETED"})

    assert "s3.q0 was COMPLETED, the leave made it CANCELLED" in "\n".join(day.failing()[LEAVE])


def test_a_board_that_does_not_show_the_leave_fails() -> None:
    day = a_day()
    day.log.leaves[0] = replace(day.log.leaves[0], board_closed=False)

    assert list(day.failing()) == [LEAVE]


# -- SMS -----------------------------------------------------------------------------------------


def test_two_booking_created_sms_for_one_booking_fails() -> None:
    day = a_day()
    day.sms.append(dict(day.sms[0]))  # the notifier took a redelivery for a new event

    problems = day.failing()
    assert list(problems) == [SMS]
    assert problems[SMS] == [
        f"2 SMS to {PHONES['p1']} for one event s1:1:0",
        "s1.p1 got 2 BookingCreated SMS",
    ]


def test_an_sms_to_a_phone_the_event_does_not_concern_fails() -> None:
    day = a_day()
    day.sms.append({"phone": "+919811111111", "text": "OPD: booked", "eventId": "s1:2:0", "at": "x"})

    assert "does not concern that phone" in day.failing()[SMS][0]


# -- events --------------------------------------------------------------------------------------


def test_a_booking_whose_creation_never_reached_the_bus_fails() -> None:
    day = a_day()
    day.bus = [e for e in day.bus if e["detail"]["eventId"] != "s2:1:0"]

    problems = day.failing()
    assert EVENTS in problems
    assert "s2.p2 was made BOOKED, on the bus: 0 BookingCreated, 0 BookingWaitlisted" in problems[EVENTS][0]


def test_a_booking_created_twice_on_the_bus_fails() -> None:
    day = a_day()
    twice = event("BookingCreated", "s2", 1, 1, 1, body("s2", "p2", "BOOKED", 1))  # another eventId
    day.bus.insert(11, twice)

    assert "s2.p2 was made BOOKED, on the bus: 2 BookingCreated, 0 BookingWaitlisted" in day.failing()[EVENTS][0]


def test_a_change_without_its_event_fails() -> None:
    day = a_day()
    day.bus = [e for e in day.bus if e["detail"]["eventId"] != "s1:8:0"]  # p2's move out of s1

    assert "s1.p2 has history without its events: {'BookingRescheduled': 1}" in day.failing()[EVENTS][0]


# -- answers -------------------------------------------------------------------------------------


def test_a_repeat_that_does_not_get_the_first_answer_fails() -> None:
    assert list(a_day(repeat=refused("IDEMPOTENCY_CONFLICT")).failing()) == [REPEATS]


def test_a_server_error_fails() -> None:
    day = a_day()
    day.log.booked("rush", "s2", "p9", "ONLINE", Answer(500, {"message": "Internal Server Error"}))

    assert list(day.failing()) == [CONTRACT]


# -- the report ----------------------------------------------------------------------------------


def test_the_report_counts_per_slot() -> None:
    day = a_day()
    published = Published(day.bus, day.sms)

    rows = slot_rows(day.log, day.finals, published)

    first = rows[0]
    assert {k: first[k] for k in ("doctor", "slot", "state", "placesByTier", "tokens", "waitlist")} == {
        "doctor": "dr-a",
        "slot": "09:00",
        "state": "",
        "placesByTier": {"STANDARD": 3, "PREMIUM": 1, "CRITICAL": 1},
        "tokens": "1-5",
        "waitlist": {"joined": 1, "promoted": 1, "expired": 0, "waiting": 0},
    }
    assert (first["refused"], first["busy429"], first["sms"]) == ({"SLOT_FULL": 2}, 2, 2)
    assert first["events"]["BookingCreated"] == 4
    assert rows[2]["state"] == "closed"
    assert rows[3]["waitlist"] == {"joined": 2, "promoted": 1, "expired": 1, "waiting": 0}
    assert rows[3]["cancelReasons"] == {"STAFF": 1, "WAITLIST_EXPIRED": 1}
    figures = day_figures(day.log, day.finals, published)
    assert figures["waitlist"] | {"promotedBy": None} == {
        "joined": 3,
        "refused": 0,
        "promoted": 2,
        "promotedBy": None,
        "expired": 1,
        "waitingAtTheEnd": 0,
    }
    assert figures["reschedules"][0]["repeatSame"] is True
    assert figures["leave"][0] | {"triesAfter": None} == {
        "doctor": "dr-b",
        "slotsClosed": 1,
        "cancelled": 1,
        "cancelledWere": {"BOOKED": 1},
        "completedKept": 0,
        "repeatCancelled": 0,
        "triesAfter": None,
        "boardShowsLeave": True,
    }
    assert figures["leave"][0]["triesAfter"] == {"SLOT_CLOSED": 1}
    assert figures["sms"]["byKind"] == {"BookingCreated": 1, "BookingPromoted": 1}

    broken = a_day(paid_token=2)
    broken.finals = finals_of(paid_token=2)
    text = report_text(rows, check_day(broken.log, broken.finals, published), figures)
    assert "dr-a     09:00" in text
    assert "SLOT_FULL 2" in text
    assert "Reschedules: 1 moved, 1 of 1 repeats answered the same new booking" in text
    assert "1 slots closed, 1 bookings cancelled (BOOKED 1), 0 completed consultations untouched" in text
    assert "PASS  no slot over a limit (answers)" in text
    assert "FAIL  tokens unique" in text


def test_the_timeline_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "timeline.png"

    plot_timeline(a_log(), path, "a small day")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def _final_of(log: DayLog) -> FinalView:
    """A final view that agrees with the log: for days whose point is the order of events."""
    status = log.statuses("s1")
    tokens = log.tokens("s1")
    bookings = {b: {"bookingId": b, "token": tokens[b], "status": s, "history": line(s)} for b, s in status.items()}
    active = [b for b in bookings.values() if b["status"] in ("BOOKED", "CHECKED_IN")]
    slot = {"slotId": "s1", "booked": len(active), "limits": log.limits["s1"], "closed": False}
    return FinalView(slot, active, bookings, {"booked": len(active), "bookings": list(bookings.values())})


def test_the_report_shows_one_sms_of_each_kind_in_each_language() -> None:
    """Each SMS by its booking's language (a delay's by its recipient's, a code's by its script), one of each
    kind in each language, and the pairs the day sent none of."""
    day = a_day()
    hindi = event("BookingCreated", "s9", 1, 0, 1, body("s9", "h1", "BOOKED", 1, language="hi"))
    delay = event("SlotDelayChanged", "s9", 2, 0, 1, delayed=True)
    delay["detail"]["recipients"] = [{"bookingId": "s9.h1", "token": 1, "phone": "+919800000091", "language": "ta"}]
    sms = [
        *day.sms,
        {"phone": "+919800000091", "text": "OPD: टोकन 1 …", "eventId": "s9:1:0", "at": "x"},
        {"phone": "+919800000091", "text": "OPD: Dr … தாமதம் …", "eventId": "s9:2:0", "at": "x"},
    ]
    codes = [
        {"phone": "+919800000092", "text": "OPD: உள்நுழைவு குறியீடு 123456.", "eventId": None, "at": "x"},
        {"phone": "+919800000093", "text": "OPD: your sign-in code is 654321.", "eventId": None, "at": "x"},
    ]
    figures = day_figures(day.log, day.finals, Published([*day.bus, hindi, delay], sms, codes))["sms"]
    shown = [(s["kind"], s["language"]) for s in figures["samples"]]
    assert shown == [
        ("BookingCreated", "en"),
        ("BookingCreated", "hi"),
        ("BookingPromoted", "en"),
        ("SlotDelayChanged", "ta"),
        ("sign-in code", "en"),
        ("sign-in code", "ta"),
    ]
    assert figures["byLanguage"] == {"en": 2, "hi": 1, "ta": 1}  # the events' SMS
    assert "BookingCalled (hi)" in figures["notSent"] and "BookingCreated (hi)" not in figures["notSent"]
