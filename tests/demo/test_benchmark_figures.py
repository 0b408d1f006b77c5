"""The benchmarks' own arithmetic: percentiles, the overbooking check, the import-time breakdown."""

from __future__ import annotations

from typing import Any

from benchmarks.cold_start import heaviest_packages
from benchmarks.rush import ClientRun, overbooked, percentile

LIMITS = {"STANDARD": 2, "PREMIUM": 3, "CRITICAL": 4}


def run(source: str, status: int = 201, token: int | None = None) -> ClientRun:
    return ClientRun("s1", source, status, None if status == 201 else "SLOT_FULL", token, 1, 0, 0.0, 0.1)


def slot(booked: int) -> dict[str, Any]:
    return {"slotId": "s1", "booked": booked, "limits": LIMITS}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 21)]  # 1..20

    assert percentile(values, 0.50) == 10.0
    assert percentile(values, 0.99) == 20.0
    assert percentile([5.0], 0.99) == 5.0


def test_a_rush_within_the_limits_is_not_overbooked() -> None:
    runs = [run("ONLINE", token=1), run("WALKIN", token=2), run("PAID", token=3), run("ONLINE", 409)]

    assert overbooked(runs, slot(3)) == []


def test_a_standard_booking_past_its_limit_is_overbooked() -> None:
    runs = [run("ONLINE", token=1), run("PAID", token=2), run("WALKIN", token=3)]

    assert overbooked(runs, slot(3)) == ["token 3 (STANDARD) booked past the STANDARD limit 2"]


def test_repeated_tokens_and_a_wrong_count_are_caught() -> None:
    runs = [run("EMERGENCY", token=1), run("EMERGENCY", token=1)]

    problems = overbooked(runs, slot(1))

    assert any("tokens are not 1..2" in p for p in problems)
    assert any("the slot counts 1" in p for p in problems)


def test_import_time_is_summed_per_package() -> None:
    log = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      2000 |       2000 |   pydantic.fields",
            "import time:      1000 |       3000 | pydantic",
            "import time:      5000 |       5000 | pymongo",
            "something else on stderr",
        ]
    )

    assert heaviest_packages(log) == [("pymongo", 5.0), ("pydantic", 3.0)]
