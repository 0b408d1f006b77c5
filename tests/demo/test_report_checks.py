"""The demo's report check (demo.reports.report_checks) holds each doctor's row to the replay's own counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from demo.reports import report_checks


@dataclass
class Slot:
    slot_id: str
    doctor_id: str


@dataclass
class Log:
    tokens_by_slot: dict[str, dict[str, int]]
    statuses_by_slot: dict[str, dict[str, str]]

    def tokens(self, slot_id: str) -> dict[str, int]:
        return self.tokens_by_slot[slot_id]

    def statuses(self, slot_id: str) -> dict[str, str]:
        return self.statuses_by_slot[slot_id]


@dataclass
class Day:
    slots: list[Slot] = field(default_factory=list)
    log: Any = None


def a_day() -> Day:
    # dr-a: two slots; b1 seen, b2 a no-show, b3 waitlisted and never promoted (no token: no place), b4 seen
    return Day(
        slots=[Slot("s1", "dr-a"), Slot("s2", "dr-a")],
        log=Log(
            {"s1": {"b1": 1, "b2": 2}, "s2": {"b4": 1}},
            {"s1": {"b1": "COMPLETED", "b2": "NO_SHOW", "b3": "CANCELLED"}, "s2": {"b4": "COMPLETED"}},
        ),
    )


def row(**figures: int) -> dict[str, Any]:
    return {"doctorId": "dr-a", "places": 3, "consultations": 2, "noShows": 1} | figures


def test_a_row_that_counts_what_the_replay_counted_passes() -> None:
    check = report_checks(a_day(), [row()])
    assert check.ok, check.problems


def test_a_row_that_counts_otherwise_or_is_missing_fails() -> None:
    assert not report_checks(a_day(), [row(places=4)]).ok
    assert not report_checks(a_day(), [row(noShows=0)]).ok
    assert not report_checks(a_day(), []).ok
