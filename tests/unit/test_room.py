"""The OPD room in pure code: call next, skip, positions and wait estimates, the board's line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opd import domain, store
from opd.domain import Booking, BookingOptions, Change, Slot, Source, Status
from opd.errors import InvalidTransition

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)  # 60 minutes, base 10: 6 minutes a consultation until 3 are known
BEFORE = START - timedelta(hours=2)
DESK = "desk-1"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def clinic(sources: list[Source], checked_in: tuple[int, ...] | list[int] = ()) -> Slot:
    """A slot with one booking per source (tokens 1, 2, ...), the given tokens checked in."""
    slot = Slot(slot_id="slot-1", doctor_id="dr-1", start=START, end=END)
    for source in sources:
        token = slot.next_token
        slot, _ = domain.book(slot, f"slot-1.b{token}", f"p{token}", source, BEFORE, 20, BookingOptions(by=f"p{token}"))
    for token in checked_in:
        slot, _ = domain.transition(slot, by_token(slot, token), Status.CHECKED_IN, BEFORE, by=DESK)
    return slot


def by_token(slot: Slot, token: int) -> Booking:
    return next(b for b in slot.bookings if b.token == token)


def tokens(bookings: list[Booking]) -> list[int | None]:
    return [b.token for b in bookings]


def call(slot: Slot, at: datetime) -> tuple[Slot, Booking | None, Booking | None]:
    changed, completed, called = domain.call_next(slot, at, DESK)
    assert changed is not None
    return changed, completed, called


def test_call_next_calls_the_first_checked_in_in_call_order_critical_first() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN, Source.EMERGENCY], checked_in=[2, 3])
    slot, completed, called = call(slot, START)
    assert completed is None and called is not None
    assert called.token == 3 and called.status is Status.CALLED and called.called_at == START
    assert called.history[-1] == Change(Status.CALLED, START, DESK)
    assert slot.called == called


def test_call_next_completes_the_one_in_the_room_and_calls_the_next_in_one_change() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN], checked_in=[1, 2])
    slot, _, first = call(slot, START)
    slot, completed, second = call(slot, START + minutes(7))
    assert first is not None and completed is not None and second is not None
    assert completed.booking_id == first.booking_id
    assert completed.status is Status.COMPLETED and completed.completed_at == START + minutes(7)
    assert second.token == 2 and slot.called == second
    assert slot.booked == 2  # a finished consultation keeps its place


def test_call_next_skips_patients_who_have_not_arrived() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN], checked_in=[2])
    _, _, called = call(slot, START)
    assert called is not None and called.token == 2


def test_call_next_with_nobody_waiting_completes_only_or_changes_nothing() -> None:
    slot = clinic([Source.ONLINE], checked_in=[1])
    slot, _, _ = call(slot, START)
    slot, completed, called = call(slot, START + minutes(5))
    assert completed is not None and called is None and slot.called is None
    assert domain.call_next(slot, START + minutes(6), DESK) == (None, None, None)


def test_skip_sends_the_called_patient_to_the_end_of_their_group() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN, Source.EMERGENCY, Source.PAID], checked_in=[1, 2, 3, 4])
    slot, _, called = call(slot, START)  # the emergency, token 3
    slot, _, called = call(slot, START + minutes(5))  # token 1
    assert called is not None and called.token == 1
    slot, skipped = domain.skip(slot, called, START + minutes(6), DESK)
    assert skipped.status is Status.CHECKED_IN and skipped.skips == 1
    assert skipped.history[-1] == Change(Status.CHECKED_IN, START + minutes(6), DESK)
    assert tokens(domain.call_order(slot.bookings)) == [2, 4, 1]
    _, _, called = call(slot, START + minutes(7))
    assert called is not None and called.token == 2


def test_the_called_patient_heads_the_queue_even_when_an_emergency_waits() -> None:
    slot = clinic([Source.ONLINE, Source.EMERGENCY], checked_in=[1])
    slot, _, called = call(slot, START)
    slot, _ = domain.transition(slot, by_token(slot, 2), Status.CHECKED_IN, START, by=DESK)
    assert called is not None and called.token == 1
    assert tokens(domain.call_order(slot.bookings)) == [1, 2]
    assert domain.standings(slot, START)["slot-1.b2"].position == 1


def test_a_skipped_emergency_stays_ahead_of_the_other_tiers() -> None:
    slot = clinic([Source.ONLINE, Source.EMERGENCY, Source.EMERGENCY], checked_in=[1, 2, 3])
    slot, _, called = call(slot, START)
    assert called is not None and called.token == 2
    slot, _ = domain.skip(slot, called, START + minutes(1), DESK)
    assert tokens(domain.call_order(slot.bookings)) == [3, 2, 1]


def test_the_third_skip_makes_a_no_show_and_gives_the_place_back() -> None:
    slot = clinic([Source.ONLINE], checked_in=[1])
    for n in range(1, domain.MAX_SKIPS + 1):
        slot, _, called = call(slot, START + minutes(n))
        assert called is not None and called.token == 1
        slot, skipped = domain.skip(slot, called, START + minutes(n), DESK)
        assert skipped.skips == n
    assert skipped.status is Status.NO_SHOW and slot.booked == 0
    assert [c.status for c in skipped.history] == [
        Status.BOOKED,
        Status.CHECKED_IN,
        Status.CALLED,
        Status.CHECKED_IN,
        Status.CALLED,
        Status.CHECKED_IN,
        Status.CALLED,
        Status.NO_SHOW,
    ]


@pytest.mark.parametrize("status", [Status.BOOKED, Status.CHECKED_IN, Status.COMPLETED, Status.CANCELLED])
def test_only_a_called_booking_can_be_skipped(status: Status) -> None:
    slot = clinic([Source.ONLINE])
    booking = replace(by_token(slot, 1), status=status)
    with pytest.raises(InvalidTransition):
        domain.skip(slot.with_booking(booking), booking, START, DESK)


def test_complete_from_called_or_checked_in_records_the_time() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN], checked_in=[1, 2])
    slot, _, called = call(slot, START)
    assert called is not None
    slot, done = domain.transition(slot, called, Status.COMPLETED, START + minutes(4), by=DESK)
    assert done.completed_at == START + minutes(4)
    slot, done = domain.transition(slot, by_token(slot, 2), Status.COMPLETED, START + minutes(5), by=DESK)
    assert done.status is Status.COMPLETED and done.called_at is None


def test_history_records_every_change_with_who_made_it() -> None:
    slot = clinic([Source.ONLINE])
    slot, booking = domain.transition(slot, by_token(slot, 1), Status.CANCELLED, START, by="p1")
    assert booking.history == (Change(Status.BOOKED, BEFORE, "p1"), Change(Status.CANCELLED, START, "p1"))
    _, marked = domain.mark_no_shows(clinic([Source.ONLINE]), START + minutes(15), 15)
    assert marked[0].history[-1] == Change(Status.NO_SHOW, START + minutes(15), domain.SYSTEM)


# -- positions and estimates: the contract's formula, with a fixed clock -----------------------


def test_without_anyone_called_estimates_run_from_the_start() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN, Source.EMERGENCY], checked_in=[1])
    standing = domain.standings(slot, BEFORE)
    # m = 60 / 10 = 6 minutes; call order 3, 1, 2
    assert standing["slot-1.b3"] == domain.Standing(0, START)
    assert standing["slot-1.b1"] == domain.Standing(1, START + minutes(6))
    assert standing["slot-1.b2"] == domain.Standing(2, START + minutes(12))


def test_a_delay_moves_the_estimates_and_now_is_the_floor() -> None:
    slot = replace(clinic([Source.ONLINE, Source.WALKIN]), delayed=True, delay_minutes=40)
    assert domain.standings(slot, BEFORE)["slot-1.b2"].estimated_call_at == START + minutes(46)
    late = START + minutes(50)
    assert domain.standings(slot, late)["slot-1.b1"].estimated_call_at == late


def test_with_someone_called_estimates_run_from_their_call() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN, Source.PAID], checked_in=[1, 2, 3])
    slot, _, _ = call(slot, START + minutes(2))
    standing = domain.standings(slot, START + minutes(3))
    assert standing["slot-1.b1"] == domain.Standing(0, START + minutes(2))
    assert standing["slot-1.b2"] == domain.Standing(1, START + minutes(8))  # calledAt + m
    assert standing["slot-1.b3"] == domain.Standing(2, START + minutes(14))
    # a consultation running long: never an estimate in the past
    overdue = START + minutes(20)
    assert domain.standings(slot, overdue)["slot-1.b3"].estimated_call_at == overdue + minutes(6)


def test_the_median_consultation_is_used_once_three_are_known() -> None:
    slot = clinic([Source.ONLINE] * 5, checked_in=[1, 2, 3, 4, 5])
    at = START
    for length in (2, 12, 4):  # median 4 minutes; the first two alone would say 7
        slot, _, _ = call(slot, at)
        at += minutes(length)
    assert domain.consultation_minutes(slot) == 6  # two known so far
    slot, _, called = call(slot, at)  # completes the third; calls token 4
    assert domain.consultation_minutes(slot) == 4
    assert called is not None
    assert domain.standings(slot, at)["slot-1.b5"] == domain.Standing(1, at + minutes(4))


def test_only_queued_bookings_stand_in_the_queue() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN], checked_in=[1])
    slot, _ = domain.transition(slot, by_token(slot, 2), Status.CANCELLED, BEFORE, by=DESK)
    assert set(domain.standings(slot, BEFORE)) == {"slot-1.b1"}


# -- the waiting-room board ------------------------------------------------------------------


def test_the_board_line_shows_the_called_token_and_the_next_five_checked_in() -> None:
    slot = clinic([Source.ONLINE] * 8 + [Source.EMERGENCY], checked_in=[1, 2, 3, 4, 5, 6, 7, 9])
    assert domain.board_line(slot) == domain.BoardLine(calling=None, next=(9, 1, 2, 3, 4), waiting=8)
    slot, _, _ = call(slot, START)
    assert domain.board_line(slot) == domain.BoardLine(calling=9, next=(1, 2, 3, 4, 5), waiting=7)


# -- what the store keeps of it ----------------------------------------------------------------


def test_the_room_fields_survive_the_store_round_trip() -> None:
    slot = clinic([Source.ONLINE, Source.WALKIN], checked_in=[1, 2])
    slot, _, called = call(slot, START)
    assert called is not None
    slot, _ = domain.skip(slot, called, START + minutes(1), DESK)
    slot, _, _ = call(slot, START + minutes(2))
    slot, _, _ = call(slot, START + minutes(9))
    assert store.slot_from_doc(store.slot_to_doc(slot)) == slot
