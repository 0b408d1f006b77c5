"""The demo's invariant checker and report on a small hand-written day: a sound day passes, each broken one fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo.checks import FinalView, check_day
from demo.client import Answer
from demo.day import DayLog, SlotPlan
from demo.report import plot_timeline, report_text, slot_rows

START = datetime(2026, 11, 22, 9, tzinfo=UTC)
SLOT = SlotPlan("dr-a", "s1", START, START + timedelta(hours=1))
LIMITS = {"STANDARD": 2, "PREMIUM": 3, "CRITICAL": 4}  # a tiny slot: base 2, +1 premium, +1 emergency


def booked(token: int, patient: str, busy: int = 0) -> Answer:
    return Answer(201, {"bookingId": f"s1.{patient}", "token": token, "status": "BOOKED"}, busy + 1, busy)


def moved(patient: str, token: int, status: str) -> Answer:
    return Answer(200, {"bookingId": f"s1.{patient}", "token": token, "status": status})


def refused(code: str, status: int = 409, **detail: Any) -> Answer:
    return Answer(status, {"error": {"code": code, "message": code, "details": [detail] if detail else []}})


def full(tier: str, limit: int, count: int) -> Answer:
    return refused("SLOT_FULL", tier=tier, limit=limit, booked=count)


def a_day(paid_source: str = "PAID", paid_token: int = 3, repeat: Answer | None = None) -> DayLog:
    """p1, p2 online; p3 refused; p1 repeats; p4 paid; p1 cancels; p5, p6 emergencies; p7 refused."""
    log = DayLog([SLOT], {"s1": LIMITS})
    log.booked("rush", "s1", "p1", "ONLINE", booked(1, "p1"), key="k1")
    log.booked("rush", "s1", "p2", "ONLINE", booked(2, "p2", busy=2))
    log.booked("rush", "s1", "p3", "ONLINE", full("STANDARD", 2, 2))
    log.booked("again", "s1", "p1", "ONLINE", repeat or booked(1, "p1"), key="k1")
    log.booked("paid", "s1", "p4", paid_source, booked(paid_token, "p4"))
    log.moved("cancel", "s1.p1", "cancel", moved("p1", 1, "CANCELLED"))
    log.booked("emergency", "s1", "p5", "EMERGENCY", booked(4, "p5"))
    log.booked("emergency", "s1", "p6", "EMERGENCY", booked(5, "p6"))
    log.booked("emergency", "s1", "p7", "EMERGENCY", full("CRITICAL", 4, 4))
    return log


def its_final_view(paid_token: int = 3, booked_count: int = 4, store_count: int = 4) -> dict[str, FinalView]:
    """What a correct service answers after `a_day()`, written out by hand."""
    tokens = {"p1": 1, "p2": 2, "p4": paid_token, "p5": 4, "p6": 5}
    status = {"p1": "CANCELLED", "p2": "BOOKED", "p4": "BOOKED", "p5": "BOOKED", "p6": "BOOKED"}
    bookings = {f"s1.{p}": {"bookingId": f"s1.{p}", "token": t, "status": status[p]} for p, t in tokens.items()}
    queue = [bookings[f"s1.{p}"] for p in ("p5", "p6", "p2", "p4")]  # emergencies first
    store = {"_id": "s1", "booked": store_count, "bookings": list(bookings.values())}
    slot = {"slotId": "s1", "booked": booked_count, "limits": LIMITS, "delayed": False}
    return {"s1": FinalView(slot, queue, bookings, store)}


def failing(log: DayLog, finals: dict[str, FinalView]) -> dict[str, list[str]]:
    return {check.name: check.problems for check in check_day(log, finals) if not check.ok}


def test_a_sound_day_passes_every_check() -> None:
    checks = check_day(a_day(), its_final_view())

    assert [c.name for c in checks] == [
        "no slot over a limit",
        "tokens unique",
        "each slot's count equals its active bookings",
        "repeats get the first answer",
        "every answer from the contract",
    ]
    assert all(c.ok for c in checks), [c.problems for c in checks]


def test_a_booking_past_its_tier_limit_fails() -> None:
    # p4 as a walk-in: two were active, the STANDARD limit is 2, yet it was booked.
    problems = failing(a_day(paid_source="WALKIN"), its_final_view())

    assert list(problems) == ["no slot over a limit"]
    assert "token 3 (STANDARD) booked with 2 active, limit 2" in problems["no slot over a limit"][0]


def test_more_active_than_the_critical_limit_fails() -> None:
    log = a_day()
    log.booked("emergency", "s1", "p8", "EMERGENCY", booked(6, "p8"))

    assert "no slot over a limit" in failing(log, its_final_view())


def test_a_repeated_token_fails() -> None:
    problems = failing(a_day(paid_token=2), its_final_view(paid_token=2))

    assert list(problems) == ["tokens unique"]
    assert "repeated tokens [2]" in problems["tokens unique"][0]


def test_a_gap_in_the_tokens_fails() -> None:
    problems = failing(a_day(paid_token=9), its_final_view(paid_token=9))

    assert list(problems) == ["tokens unique"]


def test_a_slot_count_that_is_not_its_active_bookings_fails() -> None:
    problems = failing(a_day(), its_final_view(booked_count=3))

    assert list(problems) == ["each slot's count equals its active bookings"]


def test_the_store_document_is_checked_too() -> None:
    problems = failing(a_day(), its_final_view(store_count=3))

    assert list(problems) == ["each slot's count equals its active bookings"]
    assert "the store's count" in problems["each slot's count equals its active bookings"][0]


def test_a_booking_read_back_in_another_status_fails() -> None:
    finals = its_final_view()
    view = finals["s1"]
    bookings = dict(view.bookings) | {"s1.p2": {"bookingId": "s1.p2", "token": 2, "status": "NO_SHOW"}}

    problems = failing(a_day(), {"s1": replace(view, bookings=bookings)})

    assert "each slot's count equals its active bookings" in problems


def test_a_sweep_that_marked_other_bookings_than_were_found_fails() -> None:
    log = a_day()
    log.sweeps.append((3, 2))

    assert list(failing(log, its_final_view())) == ["each slot's count equals its active bookings"]


def test_a_repeat_that_does_not_get_the_first_answer_fails() -> None:
    log = a_day(repeat=refused("IDEMPOTENCY_CONFLICT"))

    assert list(failing(log, its_final_view())) == ["repeats get the first answer"]


def test_a_server_error_fails() -> None:
    log = a_day()
    log.booked("rush", "s1", "p9", "ONLINE", Answer(500, {"message": "Internal Server Error"}))

    assert list(failing(log, its_final_view())) == ["every answer from the contract"]


def test_a_slot_full_with_room_left_fails() -> None:
    log = a_day()
    log.booked("late", "s1", "p9", "PAID", full("PREMIUM", 3, 2))

    assert list(failing(log, its_final_view())) == ["no slot over a limit"]


def test_a_slot_full_naming_another_limit_fails() -> None:
    log = a_day()
    log.booked("late", "s1", "p9", "PAID", full("PREMIUM", 12, 14))

    assert list(failing(log, its_final_view())) == ["no slot over a limit"]


def test_a_burst_is_checked_in_token_order() -> None:
    # Answers of a burst arrive in any order: by arrival, token 3 would look like the third booking
    # of a full slot; by token it was the third, made while two were active (PREMIUM limit 3).
    log = DayLog([SLOT], {"s1": LIMITS})
    log.booked("rush", "s1", "p3", "PAID", booked(3, "p3"))
    log.booked("rush", "s1", "p1", "ONLINE", booked(1, "p1"))
    log.booked("rush", "s1", "p2", "ONLINE", booked(2, "p2"))
    log.settle_burst("rush")

    assert [(p.event.token, p.before) for p in log.history("s1")] == [(1, 0), (2, 1), (3, 2)]
    assert check_day(log, {"s1": _final_of(log)})[0].ok


def test_a_delay_lowers_the_limits_for_later_bookings() -> None:
    log = DayLog([SLOT], {"s1": LIMITS})
    log.booked("rush", "s1", "p1", "ONLINE", booked(1, "p1"))
    delayed = LIMITS | {"STANDARD": 1, "PREMIUM": 2}
    log.delayed("delay", "s1", Answer(200, {"slotId": "s1", "booked": 1, "limits": delayed}))
    log.booked("walk-in", "s1", "p2", "WALKIN", booked(2, "p2"))  # 1 active, the delayed limit is 1

    problems = failing(log, {"s1": _final_of(log)})

    assert list(problems) == ["no slot over a limit"]


def test_the_report_counts_per_slot() -> None:
    rows = slot_rows(a_day(), its_final_view())

    assert rows == [
        {
            "doctor": "dr-a",
            "slot": "09:00",
            "slotId": "s1",
            "delayed": False,
            "bookedByTier": {"STANDARD": 2, "PREMIUM": 1, "CRITICAL": 2},
            "tokens": "1-5",
            "active": 4,
            "cancelled": 1,
            "noShow": 0,
            "completed": 0,
            "refused": {"SLOT_FULL": 2},
            "busy429": 2,
        }
    ]
    text = report_text(rows, check_day(a_day(paid_token=2), its_final_view(paid_token=2)))
    assert "dr-a       09:00" in text
    assert "SLOT_FULL 2" in text
    assert "PASS  no slot over a limit" in text
    assert "FAIL  tokens unique" in text


def test_the_timeline_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "timeline.png"

    plot_timeline(a_day(), path, "a small day")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def _final_of(log: DayLog) -> FinalView:
    """A final view that agrees with the log: for days whose point is the order of events."""
    status = log.statuses("s1")
    tokens = log.tokens("s1")
    bookings = {b: {"bookingId": b, "token": tokens[b], "status": s} for b, s in status.items()}
    active = [b for b in bookings.values() if b["status"] in ("BOOKED", "CHECKED_IN")]
    slot = {"slotId": "s1", "booked": len(active), "limits": log.limits["s1"]}
    return FinalView(slot, active, bookings, {"booked": len(active), "bookings": list(bookings.values())})
