"""The report: a row per slot, the day's stories in figures, the text on stdout, and the PNG timeline."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, tzinfo
from itertools import groupby
from pathlib import Path
from typing import Any

from demo.checks import Check, FinalView, Published
from demo.client import TIER_OF_SOURCE
from demo.day import BOOKING_EVENTS, EVENT_TYPES, PHASES, SLOT_EVENTS, TIERS, DayLog, Point, SlotPlan
from demo.people import LANGUAGES

# -- the figures ---------------------------------------------------------------------------------


def _at(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def waits(bookings: dict[str, dict[str, Any]]) -> list[float]:
    """Seconds from check-in to the first call, per booking that was called, from its history."""
    found = []
    for booking in bookings.values():
        lines = booking.get("history", [])
        checked_in = next((_at(x["at"]) for x in lines if x.get("status") == "CHECKED_IN"), None)
        called = next((_at(x["at"]) for x in lines if x.get("status") == "CALLED"), None)
        if checked_in is not None and called is not None:
            found.append((called - checked_in).total_seconds())
    return found


def slot_rows(log: DayLog, finals: dict[str, FinalView], published: Published | None = None) -> list[dict[str, Any]]:
    """Per doctor and slot: places by tier, tokens, the waitlist, the room, waiting times, refusals, events, SMS."""
    published = published or Published([], [])
    on_bus = published.by_slot()
    rows = []
    for slot in log.slots:
        events = log.slot_events(slot.slot_id)
        final = finals[slot.slot_id]
        bookings = final.bookings
        statuses = Counter(b.get("status") for b in bookings.values())
        points = log.history(slot.slot_id)
        placed = [b for b in bookings.values() if b.get("token") is not None]
        tokens = sorted(int(b["token"]) for b in placed)
        waited = waits(bookings)
        reasons = Counter(b.get("cancelReason") for b in bookings.values() if b.get("status") == "CANCELLED")
        state = "closed" if final.slot.get("closed") else ""
        if final.slot.get("delayed"):
            state = f"late {final.slot.get('delayMinutes')}"
        rows.append(
            {
                "doctor": slot.doctor_id,
                "slot": slot.label,
                "slotId": slot.slot_id,
                "state": state,
                "placesByTier": {
                    t: sum(1 for b in placed if TIER_OF_SOURCE.get(b.get("source", "")) == t) for t in TIERS
                },
                "tokens": f"{tokens[0]}-{tokens[-1]}" if tokens else "-",
                "waitlist": {
                    "joined": sum(
                        1 for b in bookings.values() if b.get("history", [{}])[0].get("status") == "WAITLISTED"
                    ),
                    "promoted": sum(1 for p in points if p.was == "WAITLISTED" and p.event.booking_status == "BOOKED"),
                    "expired": reasons["WAITLIST_EXPIRED"],
                    "waiting": statuses["WAITLISTED"],
                },
                "completed": statuses["COMPLETED"],
                "noShow": statuses["NO_SHOW"],
                "cancelled": sum(n for r, n in reasons.items() if r != "WAITLIST_EXPIRED"),
                "cancelReasons": {str(r): n for r, n in reasons.items()},
                "active": sum(statuses[s] for s in ("BOOKED", "CHECKED_IN", "CALLED")),
                "waitSeconds": {
                    "called": len(waited),
                    "median": round(statistics.median(waited), 2) if waited else None,
                    "max": round(max(waited), 2) if waited else None,
                },
                "skips": sum(int(b.get("skips") or 0) for b in bookings.values()),
                "refused": dict(Counter(str(e.code) for e in events if not e.ok).most_common()),
                "busy429": sum(e.busy for e in events),
                "events": dict(Counter(str(e["type"]) for e in on_bus.get(slot.slot_id, []))),
                "sms": sum(1 for m in published.sms if str(m.get("eventId", "")).startswith(slot.slot_id + ":")),
            }
        )
    return rows


def day_figures(
    log: DayLog, finals: dict[str, FinalView], published: Published, zone: tzinfo | None = None
) -> dict[str, Any]:
    """The day's stories: sessions, waitlist, reschedules, leave, what patients saw, events and SMS."""
    bookings = {b: v for f in finals.values() for b, v in f.bookings.items()}
    promoted = Counter(
        p.event.phase
        for s in log.slots
        for p in log.history(s.slot_id)
        if p.was == "WAITLISTED" and p.event.booking_status == "BOOKED"
    )
    joined = [e for e in log.events if e.action == "book" and e.ok and e.booking_status == "WAITLISTED"]
    reasons = Counter(b.get("cancelReason") for b in bookings.values() if b.get("status") == "CANCELLED")
    events = published.distinct()
    sms_kinds = Counter(_sms_kind(message, events) for message in published.sms)
    samples: dict[tuple[str, str], dict[str, Any]] = {}  # one SMS of each kind in each language
    for message in [*published.sms, *published.codes]:
        told = {"phone": message["phone"], "text": message["text"]}
        samples.setdefault((_sms_kind(message, events), _sms_language(message, events)), told)
    order = {kind: n for n, kind in enumerate(SMS_KINDS)}
    by_kind = sorted(samples.items(), key=lambda s: (order.get(s[0][0], len(order)), s[0][0], LANGUAGES.index(s[0][1])))
    return {
        "sessions": {
            "requests": [s.__dict__ for s in log.sessions],
            "created": sum(s.created for s in log.sessions),
            "existing": sum(s.existing for s in log.sessions),
            "repeatCreated": sum(s.repeat_created for s in log.sessions),
            "repeatExisting": sum(s.repeat_existing for s in log.sessions),
        },
        "waitlist": {
            "joined": len(joined),
            "refused": sum(1 for e in log.events if e.code == "WAITLIST_FULL"),
            "promoted": sum(promoted.values()),
            "promotedBy": dict(promoted),
            "expired": reasons["WAITLIST_EXPIRED"],
            "waitingAtTheEnd": sum(len(f.waitlist) for f in finals.values()),
        },
        "reschedules": [
            {
                "patient": m.patient,
                "from": m.old_id,
                "to": m.new_id,
                "status": m.status,
                "code": m.code,
                "repeatSame": m.repeat_id == m.new_id if m.new_id else None,
            }
            for m in log.moves
        ],
        "leave": [
            {
                "doctor": v.doctor_id,
                "slotsClosed": v.slots,
                "cancelled": len(v.cancelled),
                "cancelledWere": dict(Counter(v.before[b] for b in v.cancelled if b in v.before)),
                "completedKept": sum(1 for s in v.before.values() if s == "COMPLETED"),
                "repeatCancelled": v.repeat_cancelled,
                "triesAfter": dict(
                    Counter(
                        str(e.code or e.status)
                        for e in log.events
                        if e.order >= v.after_order and e.slot_id in v.closed and e.action in ("book", "reschedule")
                    )
                ),
                "boardShowsLeave": v.board_closed,
            }
            for v in log.leaves
        ],
        "watched": {
            b: {
                "slot": _label(log, log.slot_of_booking[b]),
                "token": bookings.get(b, {}).get("token"),
                "seen": [s | {"estimatedCallAt": _local(s.get("estimatedCallAt"), zone)} for s in seen],
            }
            for b, seen in log.watched.items()
        },
        "events": {
            "published": len(events),
            "deliveries": len(published.events),
            "byType": {t: n for t in EVENT_TYPES if (n := sum(1 for e in events.values() if e["type"] == t))},
        },
        "sms": {
            "sent": len(published.sms),
            "byKind": dict(sms_kinds.most_common()),
            "byLanguage": dict(Counter(_sms_language(message, events) for message in published.sms).most_common()),
            "samples": [{"kind": kind, "language": language} | sample for (kind, language), sample in by_kind],
            "notSent": [f"{k} ({lang})" for k in SMS_KINDS for lang in LANGUAGES if (k, lang) not in samples],
        },
    }


# Every kind of SMS the service sends (contract, "Events and SMS"; "Sign-in by phone"), in the report's order.
SIGN_IN_CODE = "sign-in code"
SMS_KINDS = (
    "BookingCreated",
    "BookingPromoted",
    "BookingCalled",
    "BookingCancelled (DOCTOR_UNAVAILABLE)",
    "BookingCancelled (WAITLIST_EXPIRED)",
    "BookingRescheduled",
    "SlotDelayChanged",
    SIGN_IN_CODE,
)
# A character of each script: how a sign-in code's SMS (of no event, so of no booking) shows its language.
SCRIPTS = {"hi": ("\u0900", "\u097f"), "ta": ("\u0b80", "\u0bff")}


def _sms_kind(message: dict[str, Any], events: dict[str, dict[str, Any]]) -> str:
    """What an SMS was sent for: its event's detail-type, with the reason of a cancellation; a sign-in code's has
    no event."""
    if message.get("eventId") is None:
        return SIGN_IN_CODE
    event = events.get(str(message.get("eventId")), {})
    booking = event.get("booking") or {}
    reason = booking.get("cancelReason") if event.get("type") == "BookingCancelled" else None
    return str(event.get("type", "?")) + (f" ({reason})" if reason else "")


def _sms_language(message: dict[str, Any], events: dict[str, dict[str, Any]]) -> str:
    """The language an SMS was asked in: its booking's (a delay's: the recipient's with its phone), as the event
    carries it; a sign-in code's (asked for by Accept-Language), by its script. "en" for a booking without one."""
    event = events.get(str(message.get("eventId")), {})
    if message.get("eventId") is None:
        text = str(message.get("text", ""))
        found = [code for code, (first, last) in SCRIPTS.items() if any(first <= c <= last for c in text)]
        return found[0] if found else "en"
    told = [r for r in event.get("recipients", []) if r.get("phone") == message.get("phone")]
    language = (told[0] if told else event.get("booking") or {}).get("language")
    return str(language) if language in LANGUAGES else "en"


def _label(log: DayLog, slot_id: str) -> str:
    slot = next(s for s in log.slots if s.slot_id == slot_id)
    return f"{slot.doctor_id} {slot.label}"


def _local(text: str | None, zone: tzinfo | None) -> str | None:
    at = _at(text)
    return None if at is None else f"{at.astimezone(zone):%H:%M}"


# -- the text ------------------------------------------------------------------------------------


def report_text(rows: list[dict[str, Any]], checks: list[Check], figures: dict[str, Any] | None = None) -> str:
    lines = []
    if figures:
        lines += _sessions_text(figures["sessions"])
    lines += _slots_text(rows)
    if figures:
        lines += _stories_text(figures)
        lines += _events_text(rows, figures)
    lines.append("")
    lines.append("Invariants")
    for check in checks:
        lines.append(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}: {check.checked}")
        lines.extend(f"        - {problem}" for problem in check.problems[:10])
        if len(check.problems) > 10:
            lines.append(f"        ... and {len(check.problems) - 10} more")
    return "\n".join(lines)


def _sessions_text(sessions: dict[str, Any]) -> list[str]:
    requests = sessions["requests"]
    shapes = sorted(
        {f"{r['request']['start']}-{r['request']['end']} every {r['request']['slotMinutes']} min" for r in requests}
    )
    doctors = len({r["doctor_id"] for r in requests})
    return [
        f"Sessions: {doctors} doctors, {' and '.join(shapes)}: {sessions['created']} slots created, "
        f"{sessions['existing']} existed; the same requests again: {sessions['repeatCreated']} created, "
        f"{sessions['repeatExisting']} existed",
        "",
    ]


def _slots_text(rows: list[dict[str, Any]]) -> list[str]:
    over = f"{'':<23}{'places taken':^16}{'':<8}{'waitlist':^14}{'':<1}{'the room':^20}{'wait, s':^12}"
    header = (
        f"{'doctor':<9}{'slot':<6}{'state':<8}{'STD':>5}{'PREM':>5}{'CRIT':>5}  {'tokens':<7}"
        f"{'join':>5}{'prom':>5}{'exp':>4}  {'seen':>5}{'noshow':>7}{'cancel':>7}  {'med':>5}{'max':>6}"
        f"{'429s':>6}  refused by reason"
    )
    lines = [over, header, "-" * len(header)]
    for row in rows:
        tiers, wl, wait = row["placesByTier"], row["waitlist"], row["waitSeconds"]
        refused = ", ".join(f"{code} {n}" for code, n in row["refused"].items()) or "-"
        median = "-" if wait["median"] is None else f"{wait['median']:.1f}"
        longest = "-" if wait["max"] is None else f"{wait['max']:.1f}"
        lines.append(
            f"{row['doctor']:<9}{row['slot']:<6}{row['state'] or '-':<8}"
            f"{tiers['STANDARD']:>5}{tiers['PREMIUM']:>5}{tiers['CRITICAL']:>5}  {row['tokens']:<7}"
            f"{wl['joined']:>5}{wl['promoted']:>5}{wl['expired']:>4}  "
            f"{row['completed']:>5}{row['noShow']:>7}{row['cancelled']:>7}  {median:>5}{longest:>6}"
            f"{row['busy429']:>6}  {refused}"
        )
    refused_total: Counter[str] = Counter()
    for row in rows:
        refused_total.update(row["refused"])
    taken = sum(sum(row["placesByTier"].values()) for row in rows)
    lines.append("-" * len(header))
    lines.append(
        f"all slots: {taken} places taken, {sum(r['completed'] for r in rows)} consultations, "
        f"{sum(r['noShow'] for r in rows)} no-shows, {sum(r['skips'] for r in rows)} skips, "
        f"{sum(refused_total.values())} refusals, {sum(r['busy429'] for r in rows)} × 429"
    )
    lines.append(
        "wait = check-in to first call, from each booking's history, in seconds of the replay "
        "(a clinic hour is played in a few seconds)"
    )
    return lines


def _stories_text(figures: dict[str, Any]) -> list[str]:
    wl = figures["waitlist"]
    by = ", ".join(f"{phase} {n}" for phase, n in wl["promotedBy"].items())
    lines = [
        "",
        f"Waitlist: {wl['joined']} joined (WAITLIST_FULL {wl['refused']}), {wl['promoted']} promoted ({by or '-'}), "
        f"{wl['expired']} expired by the sweeper, {wl['waitingAtTheEnd']} still waiting",
    ]
    moves = figures["reschedules"]
    moved = [m for m in moves if m["to"]]
    refused = Counter(str(m["code"]) for m in moves if not m["to"])
    same = sum(1 for m in moved if m["repeatSame"])
    lines.append(
        f"Reschedules: {len(moved)} moved, {same} of {len(moved)} repeats answered the same new booking; refused: "
        + (", ".join(f"{code} {n}" for code, n in refused.items()) or "-")
    )
    for leave in figures["leave"]:
        were = ", ".join(f"{s} {n}" for s, n in leave["cancelledWere"].items())
        tries = ", ".join(f"{c} {n}" for c, n in leave["triesAfter"].items()) or "-"
        lines.append(
            f"Leave: {leave['doctor']} called away at noon (leave is for the whole day): {leave['slotsClosed']} slots "
            f"closed, {leave['cancelled']} bookings cancelled ({were or '-'}), {leave['completedKept']} completed "
            "consultations untouched; the repeat "
            f"cancelled {leave['repeatCancelled']}; tries after it: {tries}; the board: "
            + ("Doctor on leave today" if leave["boardShowsLeave"] else "NOT CLOSED")
        )
    scenes = figures.get("scenes", {})
    if skipped := scenes.get("skipped"):
        promoted = ", ".join(str(t) for t in skipped["promoted"]) or "nobody (no waitlisted tier had room)"
        lines.append(
            f"Room: {skipped['doctor']} {skipped['slot']}: token {skipped['token']} called three times, never came in: "
            f"{skipped['status']}; the place went to waitlisted token {promoted}"
        )
    if left := scenes.get("left"):
        promoted = ", ".join(str(t) for t in left["promoted"]) or "nobody (no waitlisted tier had room)"
        lines.append(
            f"Room: {left['doctor']} {left['slot']}: token {left['token']} checked in, then left before being called: "
            f"{' → '.join(str(s) for s in left['statuses'])} at the desk; the place went to waitlisted token {promoted}"
        )
    if delay := scenes.get("delay"):
        limits = "/".join(str((delay.get("limits") or {}).get(t)) for t in TIERS)
        lines.append(
            f"Delay: {delay['doctor']} {delay['slot']} running {delay['minutes']} min late: limits for new bookings "
            f"now {limits}, nobody booked is moved"
        )
    lines.append(
        "What patients saw on their phones (GET /bookings/{id} with their own token; position = bookings ahead in "
        "call order, the one in the room included, emergencies first):"
    )
    for watched in list(figures["watched"].values())[:4]:
        seen = watched["seen"]
        first = seen[0]
        positions = " → ".join(
            str(s["position"]) if s["status"] in ("BOOKED", "CHECKED_IN") else s["status"] for s in seen
        )
        lines.append(
            f"  {watched['slot']} token {watched['token']}: estimated {first['estimatedCallAt']} when booked, "
            f"{seen[1]['estimatedCallAt'] if len(seen) > 1 else '-'} at check-in; position {positions}"
        )
    return lines


def _events_text(rows: list[dict[str, Any]], figures: dict[str, Any]) -> list[str]:
    short = dict(
        zip(
            EVENT_TYPES,
            [
                "Created",
                "Waitlst",
                "Promotd",
                "ChkIn",
                "Called",
                "Skipped",
                "Done",
                "Cancel",
                "NoShow",
                "Resched",
                "SlotNew",
                "Delay",
                "Closed",
            ],
            strict=True,
        )
    )
    header = (
        f"{'slot':<15}"
        + "".join(f"{short[t]:>8}" for t in BOOKING_EVENTS)
        + "  |"
        + "".join(f"{short[t]:>8}" for t in SLOT_EVENTS)
        + f"{'SMS':>6}"
    )
    ev = figures["events"]
    lines = [
        "",
        f"Events on the bus (GET /_local/events): {ev['published']} published, {ev['deliveries']} deliveries",
        header,
    ]
    for row in rows:
        counts = row["events"]
        lines.append(
            f"{row['doctor'] + ' ' + row['slot']:<15}"
            + "".join(f"{counts.get(t, 0):>8}" for t in BOOKING_EVENTS)
            + "  |"
            + "".join(f"{counts.get(t, 0):>8}" for t in SLOT_EVENTS)
            + f"{row['sms']:>6}"
        )
    by_type = ev["byType"]
    lines.append(
        f"{'all':<15}"
        + "".join(f"{by_type.get(t, 0):>8}" for t in BOOKING_EVENTS)
        + "  |"
        + "".join(f"{by_type.get(t, 0):>8}" for t in SLOT_EVENTS)
        + f"{figures['sms']['sent']:>6}"
    )
    sms = figures["sms"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in sms["byKind"].items())
    languages = ", ".join(f"{language} {n}" for language, n in sms.get("byLanguage", {}).items())
    lines += ["", f"SMS (GET /_local/sms): {sms['sent']} sent: {kinds}; by language: {languages}"]
    lines += ["One of each kind in each language:"]
    lines += [f"  {s['kind']:<38} {s.get('language', ''):<3} {s['phone']}  {s['text']}" for s in sms["samples"]]
    if sms.get("notSent"):
        lines += [f"  (none sent this day: {', '.join(sms['notSent'])})"]
    return lines


# -- the timeline --------------------------------------------------------------------------------

TIER_COLOURS = {"STANDARD": "tab:blue", "PREMIUM": "tab:orange", "CRITICAL": "tab:red"}
MARKERS = {  # places given back or taken unasked, marked on the line: action -> (marker, colour, legend)
    "cancel": ("x", "tab:brown", "cancelled"),
    "no-show": ("v", "tab:gray", "no-show (desk or 3rd skip)"),
    "skip": ("v", "tab:gray", "no-show (desk or 3rd skip)"),
    "swept": ("v", "tab:purple", "no-show (sweeper)"),
    "promoted": ("^", "tab:green", "promoted from the waitlist"),
    "leave-cancel": ("s", "black", "cancelled by leave"),
}
PHASE_COLOURS = dict(
    zip(
        PHASES,
        ("#dbe9f6", "#f2f2f2", "#e8dff5", "#fde2cf", "#d9f2ef", "#e3f1dc", "#f6d5e5", "#fff2b3", "#e6e6e6", "#f9d0d0"),
        strict=True,
    )
)


def plot_timeline(log: DayLog, path: Path, title: str) -> None:
    """One panel per slot: places held after each change, against the tier limits of that moment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    doctors: dict[str, list[SlotPlan]] = {}
    for slot in log.slots:
        doctors.setdefault(slot.doctor_id, []).append(slot)
    rows, cols = len(doctors), max(len(slots) for slots in doctors.values())
    figure, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows + 1.6), squeeze=False, sharey=True)
    top = max(limits["CRITICAL"] for limits in log.initial_limits.values()) + 2
    for row, slots in enumerate(doctors.values()):
        for col, slot in enumerate(slots):
            _plot_slot(axes[row][col], log, slot, top)
            axes[row][col].set_ylabel("places held" if col == 0 else "")
            axes[row][col].set_xlabel("the slot's changes, in order" if row == rows - 1 else "")
    lines = [Line2D([], [], color="black", linewidth=2, label="places held")]
    lines += [Line2D([], [], color=c, linestyle="--", label=f"{t} limit") for t, c in TIER_COLOURS.items()]
    legend = {label: (m, c) for m, c, label in MARKERS.values()}
    lines += [Line2D([], [], color=c, marker=m, linestyle="", label=label) for label, (m, c) in legend.items()]
    shown = {p.event.phase for slot in log.slots for p in _plotted(log, slot)}
    shades = [Patch(facecolor=c, label=p) for p, c in PHASE_COLOURS.items() if p in shown]
    figure.legend(handles=lines + shades, loc="lower center", ncol=8, fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.11 if rows < 3 else 0.08, 1, 0.97))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plotted(log: DayLog, slot: SlotPlan) -> list[Point]:
    """The slot's changes: of its places held, or of its limits."""
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
        if point.event.action in MARKERS and (point.event.action != "skip" or point.after < point.before):
            marker, colour, _ = MARKERS[point.event.action]
            axis.plot(index, point.after, marker=marker, color=colour, markersize=5, linestyle="")
    delayed = any(p.event.action == "delay" and p.event.ok for p in points)
    closed = any(p.event.action == "leave-cancel" for p in points)
    note = "  (delayed)" if delayed else "  (doctor on leave)" if closed else ""
    axis.set_title(f"{slot.doctor_id}  {slot.label}{note}", fontsize=9)
    axis.set_ylim(0, top)
    axis.set_xlim(0, max(1, len(occupancy) - 1))
    axis.tick_params(labelsize=7)
