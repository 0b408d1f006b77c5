"""A scaled-down `make demo` against the real local stack: every invariant holds, the outputs are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import run_demo

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_small_day_keeps_every_invariant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_demo(doctors=3, morning=2, afternoon=1, rush=60, seed=3, out=tmp_path)

    assert [(c.name, c.problems) for c in result.checks if not c.ok] == []
    assert [(row["doctor"], row["slot"]) for row in result.rows[:3]] == [
        ("dr-asha", "09:00"),
        ("dr-asha", "10:00"),
        ("dr-asha", "13:00"),
    ]
    figures = result.figures
    # The day starts from sessions, and the same requests again create nothing.
    sessions = figures["sessions"]
    assert (sessions["created"], sessions["existing"]) == (9, 0)
    assert (sessions["repeatCreated"], sessions["repeatExisting"]) == (0, 9)
    # 60 patients want three doctors' first hours most: they fill, the refused wait, cancellations promote.
    first_hour = result.rows[0]
    assert first_hour["refused"].get("SLOT_FULL", 0) > 0
    assert figures["waitlist"]["joined"] > 0
    assert figures["waitlist"]["promoted"] > 0
    assert first_hour["completed"] > 0 and first_hour["noShow"] > 0  # the room and the sweeper worked
    assert figures["scenes"]["skipped"]["status"] == "NO_SHOW"  # called three times, never came in
    assert figures["scenes"]["left"]["statuses"] == ["CHECKED_IN", "CANCELLED"]  # checked in, then left
    sweeper = next(c for c in result.checks if c.name.startswith("the sweeper promotes nobody"))
    assert sweeper.checked.startswith("3 sweeps (3 run again at the same time), 9 slots past start + grace")
    moved = [m for m in figures["reschedules"] if m["to"]]
    assert moved and all(m["repeatSame"] for m in moved)
    (leave,) = figures["leave"]
    assert (leave["doctor"], leave["slotsClosed"], leave["repeatCancelled"]) == ("dr-bose", 3, 0)
    assert leave["boardShowsLeave"] and set(leave["triesAfter"]) == {"SLOT_CLOSED"}
    kinds = figures["events"]["byType"]
    for kind in ("SlotCreated", "BookingCreated", "BookingWaitlisted", "BookingPromoted", "BookingCalled"):
        assert kinds.get(kind, 0) > 0, kind
    assert (kinds["SlotClosed"], kinds["SlotDelayChanged"]) == (3, 1)
    assert figures["sms"]["sent"] > 0
    assert [p.name for p in result.screenshots] == [
        *("board-counter.png", "slip.png"),  # the registration counter's column calling; a walk-in's slip
        *("board-hi.png", "board.png", "desk.png"),  # the board in Hindi, then English
        *("app.png", "app-hi.png", "status.png", "status-ta.png"),  # the app, then in Hindi; the status page, in Tamil
        "board-afternoon.png",
        "reports.png",  # the admin's reports page once the day is over
    ]
    assert all(p.read_bytes()[:8] == PNG for p in [*result.screenshots, result.timeline])
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert all(check["ok"] for check in report["invariants"])
    output = capsys.readouterr().out
    for phase in (
        "sessions",
        "registration counter",
        "morning rush",
        "waitlist",
        "reschedules",
        "12:00 leave",
        "bus and SMS",
        "Invariants",
    ):
        assert phase in output
