"""The daily report's figures (contract, "Reports"), each checked against a day counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from opd.api.reports import DailyReportsOut, as_csv, json_row
from opd.domain import Booking, CancelReason, Capacity, Change, Doctor, Slot, Source, Status, Tier
from opd.domain.daily import (
    FIGURES,
    DayReport,
    DayRow,
    Measure,
    TierFigures,
    WaitlistFigures,
    day_is_final,
    day_report,
    figures_of,
    median,
    nearest_rank,
    rounded,
)

DAY = date(2026, 11, 21)
DOCTOR = Doctor.of("dr-rao", "Dr Asha Rao", "Cardiology", "OPD-12")


def at(clock: str) -> datetime:
    """09:02 or 09:25:30 on the day, UTC (the clinic's zone in these tests)."""
    return datetime.fromisoformat(f"{DAY.isoformat()}T{clock}+00:00")


def booking(
    slot: str,
    name: str,
    source: Source,
    token: int | None,
    *moves: tuple[Status, str],
    reason: CancelReason | None = None,
) -> Booking:
    """A booking whose history is `moves` (state, clock time); its status, calledAt (the last call) and completedAt
    follow from them, as the service writes them."""
    history = tuple(Change(status, at(clock), "desk-1") for status, clock in moves)
    calls = [c.at for c in history if c.status is Status.CALLED]
    done = [c.at for c in history if c.status is Status.COMPLETED]
    return Booking(
        booking_id=f"{slot}.{name}",
        slot_id=slot,
        doctor_id=DOCTOR.doctor_id,
        patient_id=f"patient-{name}",
        source=source,
        token=token,
        status=history[-1].status,
        created_at=history[0].at,
        updated_at=history[-1].at,
        history=history,
        called_at=calls[-1] if calls else None,
        completed_at=done[-1] if done else None,
        cancel_reason=reason,
    )


B, W, IN, CALL, DONE = Status.BOOKED, Status.WAITLISTED, Status.CHECKED_IN, Status.CALLED, Status.COMPLETED
GONE, NO = Status.CANCELLED, Status.NO_SHOW

# Slot A, 09:00-10:00, the default capacity: 10 + 2 + 3 = 15 places.
A = [
    booking("A", "a1", Source.WALKIN, 1, (B, "08:00"), (IN, "08:50"), (CALL, "09:02"), (DONE, "09:10")),
    booking("A", "a2", Source.ONLINE, 2, (B, "07:00"), (IN, "09:00"), (CALL, "09:10"), (DONE, "09:25:30")),
    # Called, skipped (back to CHECKED_IN), called again: the wait runs to the first call, the consultation from
    # the last call.
    booking(
        "A",
        "a3",
        Source.PAID,
        3,
        (B, "07:30"),
        (IN, "08:55"),
        (CALL, "09:25:30"),
        (IN, "09:27"),
        (CALL, "09:40"),
        (DONE, "09:45"),
    ),
    booking("A", "a4", Source.EMERGENCY, 4, (B, "09:05"), (IN, "09:05"), (DONE, "09:20")),  # no room flow: no call
    booking("A", "a5", Source.ONLINE, 5, (B, "08:00"), (NO, "09:15")),  # the sweeper's no-show
    booking("A", "a6", Source.ONLINE, 6, (B, "08:10"), (GONE, "08:30"), reason=CancelReason.PATIENT),
    booking("A", "a7", Source.FOLLOWUP, None, (W, "08:20"), (GONE, "09:15"), reason=CancelReason.WAITLIST_EXPIRED),
    # Joined the waitlist, promoted (token 7), checked in, called, and the third skip made them a no-show.
    booking("A", "a8", Source.ONLINE, 7, (W, "08:21"), (B, "08:30"), (IN, "09:30"), (CALL, "09:50"), (NO, "09:58")),
]
# Slot B, 10:00-11:00, base 4, premium 1, emergency 1: 6 places. b5, b6 and b7 went to the archive; b4 is in
# both (archived a moment before the slot's write that drops it).
B_SLOT = [
    booking("B", "b1", Source.WALKIN, 1, (B, "09:00"), (IN, "09:58"), (CALL, "10:07:30"), (DONE, "10:20")),
    booking("B", "b2", Source.PAID, 2, (B, "09:10"), (IN, "10:00"), (CALL, "10:20"), (DONE, "10:24")),
    booking("B", "b3", Source.EMERGENCY, 3, (B, "10:01"), (IN, "10:01"), (CALL, "10:24"), (DONE, "10:40")),
    booking("B", "b4", Source.ONLINE, 4, (B, "09:00"), (GONE, "09:30"), reason=CancelReason.RESCHEDULED),
]
ARCHIVED = [
    B_SLOT[3],
    booking("B", "b5", Source.ONLINE, 5, (B, "09:20"), (IN, "09:50"), (GONE, "10:10"), reason=CancelReason.PATIENT),
    booking("B", "b6", Source.WALKIN, 6, (B, "09:40"), (NO, "10:15")),
    booking("B", "b7", Source.ONLINE, 7, (B, "09:45"), (GONE, "09:50"), reason=CancelReason.STAFF),
]


def slot(slot_id: str, start: str, end: str, bookings: list[Booking], capacity: Capacity | None = None) -> Slot:
    tokens = [b.token for b in bookings if b.token is not None]
    return Slot(
        slot_id=slot_id,
        doctor_id=DOCTOR.doctor_id,
        start=at(start),
        end=at(end),
        capacity=capacity or Capacity(),
        next_token=max(tokens, default=0) + 1,
        bookings=tuple(bookings),
    )


SLOTS = [slot("A", "09:00", "10:00", A), slot("B", "10:00", "11:00", B_SLOT, Capacity(4, 1, 1))]


def test_every_figure_of_a_day_counted_by_hand() -> None:
    report = day_report(DAY, DOCTOR.doctor_id, SLOTS, ARCHIVED, DOCTOR, sms=5)

    # slots: A and B. capacity: the CRITICAL limits, 15 + 6 = 21.
    # places (a token, whatever became of it): A a1 a2 a3 a4 a5 a6 a8 (a7 never had one) = 7; B b1..b7 = 7 (b4 once,
    # though it is in the slot and the archive) -> 14.
    # consultations (COMPLETED): a1 a2 a3 a4 b1 b2 b3 = 7. noShows: a5 (sweeper), a8 (third skip), b6 = 3.
    # cancelled: PATIENT a6 b5 = 2, STAFF b7 = 1, RESCHEDULED b4 = 1, DOCTOR_UNAVAILABLE 0, WAITLIST_EXPIRED a7 = 1.
    # waitlist: joined a7 a8 = 2, promoted a8 = 1, expired a7 = 1.
    # byTier: STANDARD (ONLINE, WALKIN) places a1 a2 a5 a6 a8 b1 b4 b5 b6 b7 = 10, noShows a5 a8 b6 = 3;
    #         PREMIUM (PAID, FOLLOWUP) places a3 b2 = 2 (a7 had no token), noShows 0; CRITICAL places a4 b3 = 2.
    # waitMinutes, first check-in to first call: a1 08:50->09:02 12; a2 09:00->09:10 10; a3 08:55->09:25:30 30.5
    #   (not to its second call); a8 09:30->09:50 20; b1 09:58->10:07:30 9.5; b2 10:00->10:20 20; b3 10:01->10:24
    #   23; a4 (never called) and b5 (left before a call) have none. Sorted: 9.5 10 12 20 20 23 30.5 (n = 7):
    #   median the 4th = 20; p90 nearest rank ceil(0.9 x 7) = 7th = 30.5.
    # consultMinutes, the (last) call to completion: a1 8; a2 09:10->09:25:30 15.5; a3 09:40->09:45 5; b1
    #   10:07:30->10:20 12.5; b2 4; b3 16; a4 has no call. Sorted: 4 5 8 12.5 15.5 16 (n = 6): median (8 + 12.5) / 2
    #   = 10.25 -> 10.3 (half away from zero); p90 rank ceil(5.4) = 6th = 16.
    # firstCallLateMinutes: A's first call 09:02 (a1), 2 late; B's 10:07:30 (b1), 7.5 late; median (2 + 7.5) / 2
    #   = 4.75 -> 4.8.
    assert report == DayReport(
        day=DAY,
        doctor_id="dr-rao",
        doctor_name="Dr Asha Rao",
        department="Cardiology",
        slots=2,
        capacity=21,
        places=14,
        consultations=7,
        no_shows=3,
        cancelled={
            CancelReason.PATIENT: 2,
            CancelReason.STAFF: 1,
            CancelReason.RESCHEDULED: 1,
            CancelReason.DOCTOR_UNAVAILABLE: 0,
            CancelReason.WAITLIST_EXPIRED: 1,
        },
        waitlist=WaitlistFigures(joined=2, promoted=1, expired=1),
        by_tier={
            Tier.STANDARD: TierFigures(places=10, no_shows=3),
            Tier.PREMIUM: TierFigures(places=2, no_shows=0),
            Tier.CRITICAL: TierFigures(places=2, no_shows=0),
        },
        wait_minutes=Measure(median=20.0, p90=30.5),
        consult_minutes=Measure(median=10.3, p90=16.0),
        first_call_late_minutes=4.8,
        sms=5,
    )
    assert list(report.cancelled) == list(CancelReason)  # every reason, in the contract's order
    assert report.report_id == "dr-rao|2026-11-21"


def test_a_day_nothing_measured_has_nulls_never_zeros() -> None:
    # Bookings, but nobody called: no wait, no consultation, no late start. Counts stay whole numbers.
    quiet = [
        booking("Q", "q1", Source.ONLINE, 1, (B, "08:00"), (NO, "09:15")),
        booking("Q", "q2", Source.WALKIN, 2, (B, "08:30"), (IN, "08:40"), (DONE, "09:05")),  # completed at the desk
    ]
    report = day_report(DAY, "dr-unknown", [slot("Q", "09:00", "09:30", quiet)])
    assert (report.wait_minutes, report.consult_minutes) == (Measure(None, None), Measure(None, None))
    assert report.first_call_late_minutes is None
    assert report.sms is None  # not counted
    assert (report.places, report.consultations, report.no_shows) == (2, 1, 1)
    assert (report.doctor_name, report.department) == ("dr-unknown", None)  # no record: shown by its id

    empty = day_report(DAY, "dr-unknown", [slot("E", "09:00", "09:30", [])], sms=0)
    assert (empty.places, empty.consultations, empty.no_shows, empty.sms) == (0, 0, 0, 0)
    assert set(empty.cancelled.values()) == {0}
    assert empty.wait_minutes == Measure(None, None)


def test_a_first_call_before_the_slot_starts_is_negative() -> None:
    early = [booking("E", "e1", Source.WALKIN, 1, (B, "08:00"), (IN, "08:30"), (CALL, "08:57:30"), (DONE, "09:05"))]
    assert day_report(DAY, "dr-rao", [slot("E", "09:00", "09:30", early)]).first_call_late_minutes == -2.5


def minutes(*values: float) -> list[Fraction]:
    return sorted(Fraction(v).limit_denominator(1000) for v in values)


@pytest.mark.parametrize(
    ("values", "p90"),
    [
        ([7], 7),  # one value is every percentile
        ([1, 2], 2),  # ceil(1.8) = 2nd
        (list(range(1, 11)), 9),  # ten values: ceil(9.0) = 9th, not interpolated towards the 10th
        (list(range(1, 12)), 10),  # eleven: ceil(9.9) = 10th
        (list(range(1, 21)), 18),  # twenty: ceil(18.0) = 18th
    ],
)
def test_p90_is_the_nearest_rank(values: list[int], p90: int) -> None:
    assert nearest_rank(minutes(*values), 90) == p90


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median(minutes(1, 2, 3, 10)) == Fraction(5, 2)
    assert median(minutes(4, 1, 3)) == 3
    assert median([]) is None
    assert nearest_rank([], 90) is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Fraction(9, 4), 2.3),  # 2.25: halves away from zero (round() would give 2.2)
        (Fraction(-9, 4), -2.3),
        (Fraction(41, 4), 10.3),  # 10.25
        (Fraction(1, 3), 0.3),
        (Fraction(-1, 30), 0.0),  # -0.0333: no negative zero
        (Fraction(7, 1), 7.0),
        (None, None),
    ],
)
def test_rounding_to_one_decimal(value: Fraction | None, shown: float | None) -> None:
    result = rounded(value)
    assert result == shown
    assert result is None or str(result) != "-0.0"


def test_a_day_is_final_once_every_slot_ended_and_nothing_awaits_the_sweeper() -> None:
    done = slot("D", "09:00", "09:30", [booking("D", "d1", Source.ONLINE, 1, (B, "08:00"), (NO, "09:15"))])
    later = slot("L", "11:00", "11:30", [])
    assert day_is_final([done], at("09:30"))
    assert not day_is_final([done], at("09:29:59"))  # not ended
    assert not day_is_final([done, later], at("10:00"))  # a later slot of the day has not ended
    assert day_is_final([done, later], at("11:30"))
    assert not day_is_final([], at("12:00"))  # no slot: no day
    # Ended, but a BOOKED booking the sweeper has not marked yet (a slot shorter than the grace): not yet.
    waiting = slot("W", "09:00", "09:10", [booking("W", "w1", Source.ONLINE, 1, (B, "08:00"))])
    assert not day_is_final([waiting], at("09:12"))
    # A patient left CHECKED_IN by the desk does not hold the day back: counted as a place only.
    stuck = slot("S", "09:00", "09:10", [booking("S", "s1", Source.ONLINE, 1, (B, "08:00"), (IN, "08:30"))])
    assert day_is_final([stuck], at("09:12"))
    report = day_report(DAY, "dr-rao", [stuck])
    assert (report.places, report.consultations, report.no_shows) == (1, 0, 0)


def test_the_day_of_a_slot_is_its_local_start_date() -> None:
    from zoneinfo import ZoneInfo

    from opd.domain.daily import day_of

    late = Slot("X", "dr-rao", datetime(2026, 11, 21, 19, 0, tzinfo=UTC), datetime(2026, 11, 21, 19, 30, tzinfo=UTC))
    assert day_of(late, ZoneInfo("UTC")) == date(2026, 11, 21)
    assert day_of(late, ZoneInfo("Asia/Kolkata")) == date(2026, 11, 22)  # 00:30 the next morning in India
    assert late.end - late.start == timedelta(minutes=30)


def test_a_row_holds_every_figure_in_the_contracts_order() -> None:
    # Every reason and tier has its columns (FIGURES is written out, so a new one must be appended there).
    assert {f"cancelled.{reason.value}" for reason in CancelReason} <= set(FIGURES)
    assert {f"byTier.{tier.value}.{n}" for tier in Tier for n in ("places", "noShows")} <= set(FIGURES)
    report = day_report(DAY, DOCTOR.doctor_id, SLOTS, ARCHIVED, DOCTOR, sms=5)
    row = DayRow(str(DAY), "dr-rao", "Dr Asha Rao", "Cardiology", tuple(figures_of(report)))
    assert row.figures == (2, 21, 14, 7, 3, 2, 1, 1, 0, 1, 2, 1, 1, 10, 3, 2, 0, 2, 0, 20.0, 30.5, 10.3, 16.0, 4.8, 5)
    # Nested by the dotted names, as the contract shows a DayReport.
    as_json = json_row(row)
    assert list(as_json) == [
        "date",
        "doctorId",
        "doctorName",
        "department",
        "slots",
        "capacity",
        "places",
        "consultations",
        "noShows",
        "cancelled",
        "waitlist",
        "byTier",
        "waitMinutes",
        "consultMinutes",
        "firstCallLateMinutes",
        "sms",
    ]
    assert as_json["byTier"]["STANDARD"] == {"places": 10, "noShows": 3}
    assert as_json["waitMinutes"] == {"median": 20.0, "p90": 30.5}
    assert DailyReportsOut.model_validate({"days": [as_json]}).as_json() == {"days": [as_json]}
    # The same row as CSV: the dotted names as the header, a null as an empty cell.
    empty = DayRow(str(DAY), "-dr", "=cmd()", None, (0,) * 19 + (None,) * 6)
    lines = as_csv([row, empty]).split("\r\n")
    assert lines[0] == ",".join(("date", "doctorId", "doctorName", "department", *FIGURES))
    assert (
        lines[1]
        == f"{DAY},dr-rao,Dr Asha Rao,Cardiology,2,21,14,7,3,2,1,1,0,1,2,1,1,10,3,2,0,2,0,20.0,30.5,10.3,16.0,4.8,5"
    )
    assert lines[2] == f"{DAY},'-dr,'=cmd(),," + ",".join(["0"] * 19 + [""] * 6)  # a formula is written as text
    assert lines[3] == ""
