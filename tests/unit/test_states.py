"""The state machine is one table: every move a booking can make tells its events, and only such moves exist."""

from __future__ import annotations

from opd.domain import EVENTS, HOLDS_PLACE, TRANSITIONS, CancelReason, EventType, Status, event_types


def test_every_move_the_endpoints_allow_tells_an_event() -> None:
    for earlier, laters in TRANSITIONS.items():
        for later in laters:
            assert event_types(earlier, later, None), f"{earlier} -> {later} tells nothing"


def test_every_move_in_the_table_starts_from_a_state_that_can_move() -> None:
    final = {status for status, laters in TRANSITIONS.items() if not laters and status not in HOLDS_PLACE}
    assert final == {Status.CANCELLED, Status.NO_SHOW}
    for earlier, later in EVENTS:
        assert earlier not in final, f"{earlier} is final, yet {earlier} -> {later} is a move"
        assert earlier != later


def test_a_cancel_that_is_a_reschedule_tells_booking_rescheduled() -> None:
    assert event_types(Status.BOOKED, Status.CANCELLED, CancelReason.RESCHEDULED) == (EventType.BOOKING_RESCHEDULED,)
    assert event_types(Status.BOOKED, Status.CANCELLED, CancelReason.STAFF) == (EventType.BOOKING_CANCELLED,)


def test_a_move_not_in_the_table_tells_nothing() -> None:
    assert event_types(Status.COMPLETED, Status.BOOKED, None) == ()
