"""The report: a row per slot, the text on stdout, and the PNG timeline of each slot."""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from pathlib import Path
from typing import Any

from demo.checks import Check, FinalView
from demo.day import PHASES, TIERS, DayLog, Point, SlotPlan

# -- the report ----------------------------------------------------------------------------------


def slot_rows(log: DayLog, finals: dict[str, FinalView]) -> list[dict[str, Any]]:
    """Per doctor and slot: bookings by tier, tokens, where the bookings ended, refusals by reason, 429s."""
    rows = []
    for slot in log.slots:
        events = log.slot_events(slot.slot_id)
        firsts = {e.booking_id: e for e in reversed(events) if e.action == "book" and e.ok}
        tokens = sorted(log.tokens(slot.slot_id).values())
        statuses = Counter(log.statuses(slot.slot_id).values())
        rows.append(
            {
                "doctor": slot.doctor_id,
                "slot": slot.label,
                "slotId": slot.slot_id,
                "delayed": bool(finals[slot.slot_id].slot.get("delayed")),
                "bookedByTier": {tier: sum(1 for e in firsts.values() if e.tier == tier) for tier in TIERS},
                "tokens": f"{tokens[0]}-{tokens[-1]}" if tokens else "-",
                "active": statuses["BOOKED"] + statuses["CHECKED_IN"],
                "cancelled": statuses["CANCELLED"],
                "noShow": statuses["NO_SHOW"],
                "completed": statuses["COMPLETED"],
                "refused": dict(Counter(str(e.code) for e in events if not e.ok).most_common()),
                "busy429": sum(e.busy for e in events),
            }
        )
    return rows


def report_text(rows: list[dict[str, Any]], checks: list[Check]) -> str:
    over = f"{'':<25}{'bookings made':^14}  {'':<7}{'bookings now':^28}"
    header = (
        f"{'doctor':<11}{'slot':<7}{'delay':<7}{'STD':>4}{'PREM':>5}{'CRIT':>5}  {'tokens':<7}"
        f"{'active':>7}{'cancel':>7}{'no-show':>8}{'done':>6}{'429s':>6}  refused by reason"
    )
    lines = [over, header, "-" * len(header)]
    for row in rows:
        tiers = row["bookedByTier"]
        refused = ", ".join(f"{code} {n}" for code, n in row["refused"].items()) or "-"
        lines.append(
            f"{row['doctor']:<11}{row['slot']:<7}{'yes' if row['delayed'] else '-':<7}"
            f"{tiers['STANDARD']:>4}{tiers['PREMIUM']:>5}{tiers['CRITICAL']:>5}  {row['tokens']:<7}"
            f"{row['active']:>7}{row['cancelled']:>7}{row['noShow']:>8}{row['completed']:>6}{row['busy429']:>6}"
            f"  {refused}"
        )
    refused_total: Counter[str] = Counter()
    for row in rows:
        refused_total.update(row["refused"])
    booked = sum(sum(row["bookedByTier"].values()) for row in rows)
    busy = sum(row["busy429"] for row in rows)
    lines.append("-" * len(header))
    lines.append(f"all slots: {booked} bookings, {sum(refused_total.values())} refusals, {busy} × 429")
    lines.append("")
    lines.append("Invariants")
    for check in checks:
        lines.append(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}: {check.checked}")
        lines.extend(f"        - {problem}" for problem in check.problems[:10])
        if len(check.problems) > 10:
            lines.append(f"        ... and {len(check.problems) - 10} more")
    return "\n".join(lines)


TIER_COLOURS = {"STANDARD": "tab:blue", "PREMIUM": "tab:orange", "CRITICAL": "tab:red"}
MARKERS = {  # places freed, marked on the line: action -> (marker, colour, legend)
    "cancel": ("x", "tab:brown", "cancelled"),
    "no-show": ("v", "tab:gray", "no-show (desk)"),
    "swept": ("v", "tab:purple", "no-show (sweeper)"),
}
PHASE_COLOURS = dict(
    zip(PHASES, ("#dbe9f6", "#f2f2f2", "#fde2cf", "#e3f1dc", "#fff2b3", "#f6d5e5", "#f9d0d0", "#e6e6e6"), strict=True)
)


def plot_timeline(log: DayLog, path: Path, title: str) -> None:
    """One panel per slot: active bookings after each change, against the tier limits of that moment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    doctors: dict[str, list[SlotPlan]] = {}
    for slot in log.slots:
        doctors.setdefault(slot.doctor_id, []).append(slot)
    rows, cols = len(doctors), max(len(slots) for slots in doctors.values())
    figure, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows + 1.4), squeeze=False, sharey=True)
    top = max(limits["CRITICAL"] for limits in log.initial_limits.values()) + 2
    for row, slots in enumerate(doctors.values()):
        for col, slot in enumerate(slots):
            _plot_slot(axes[row][col], log, slot, top)
            axes[row][col].set_ylabel("active bookings" if col == 0 else "")
            axes[row][col].set_xlabel("the slot's changes, in order" if row == rows - 1 else "")
    lines = [Line2D([], [], color="black", linewidth=2, label="active bookings")]
    lines += [Line2D([], [], color=c, linestyle="--", label=f"{t} limit") for t, c in TIER_COLOURS.items()]
    lines += [Line2D([], [], color=c, marker=m, linestyle="", label=label) for m, c, label in MARKERS.values()]
    shown = {p.event.phase for slot in log.slots for p in _plotted(log, slot)}
    shades = [Patch(facecolor=c, label=p) for p, c in PHASE_COLOURS.items() if p in shown]
    figure.legend(handles=lines + shades, loc="lower center", ncol=8, fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.09 if rows < 3 else 0.06, 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plotted(log: DayLog, slot: SlotPlan) -> list[Point]:
    """The slot's changes: of its active bookings, or of its limits."""
    return [p for p in log.history(slot.slot_id) if p.after != p.before or p.event.action == "delay"]


def _plot_slot(axis: Any, log: DayLog, slot: SlotPlan, top: int) -> None:
    points = _plotted(log, slot)
    # Step plots hold each value until the next change; the last one is held for one more step.
    occupancy = [0, *(p.after for p in points)]
    limits = [log.initial_limits[slot.slot_id], *(p.event.limits for p in points)]
    occupancy.append(occupancy[-1])
    limits.append(limits[-1])
    x = range(len(occupancy))
    at = 1
    for phase, group in groupby(points, key=lambda p: p.event.phase):
        count = len(list(group))
        axis.axvspan(at, at + count, color=PHASE_COLOURS.get(phase, "white"), linewidth=0)
        at += count
    for tier, colour in TIER_COLOURS.items():
        axis.step(x, [limit[tier] for limit in limits], where="post", color=colour, linestyle="--", linewidth=1.2)
    axis.step(x, occupancy, where="post", color="black", linewidth=2)
    for index, point in enumerate(points, start=1):
        if point.event.action in MARKERS:
            marker, colour, _ = MARKERS[point.event.action]
            axis.plot(index, point.after, marker=marker, color=colour, markersize=5, linestyle="")
    delayed = any(p.event.action == "delay" and p.event.ok for p in points)
    axis.set_title(f"{slot.doctor_id}  {slot.label}" + ("  (delayed)" if delayed else ""), fontsize=9)
    axis.set_ylim(0, top)
    axis.set_xlim(0, len(occupancy) - 1)
    axis.tick_params(labelsize=7)
