"""A scaled-down `make demo` against the real local stack: every invariant holds, the outputs are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import run_demo


@pytest.mark.slow
def test_a_small_day_keeps_every_invariant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_demo(doctors=1, hours=2, rush=40, seed=3, out=tmp_path)

    assert [(c.name, c.problems) for c in result.checks if not c.ok] == []
    assert [(row["doctor"], row["slot"]) for row in result.rows] == [("dr-asha", "09:00"), ("dr-asha", "10:00")]
    first_hour = result.rows[0]
    # 40 patients want two slots, most the first: it fills, stretches and overflows.
    assert first_hour["bookedByTier"]["CRITICAL"] >= 1
    assert first_hour["refused"].get("SLOT_FULL", 0) > 0
    assert first_hour["noShow"] > 0  # the sweeper ran
    assert result.timeline.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert all(check["ok"] for check in report["invariants"])
    output = capsys.readouterr().out
    for phase in ("morning rush", "cancellations", "doctor delay", "emergencies", "clinic hours", "Invariants"):
        assert phase in output
