"""The doctor's room: call order, positions and estimates, the board's line, call-next and skip."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opd.domain.model import Booking, Slot, Standing
from opd.domain.rules import promote_waitlist, refuse_transition
from opd.domain.states import Status

MAX_SKIPS = 3  # the 3rd skip of a called patient who does not come in makes them a no-show
MAX_BOARD_NEXT = 5  # tokens the waiting-room board shows after the one being called


def call_order(bookings: Iterable[Booking]) -> list[Booking]:
    """The queue: the CALLED booking, then CRITICAL ones, then the others; each group by queue position."""
    return sorted(
        (b for b in bookings if b.in_queue),
        key=lambda b: (b.status is not Status.CALLED, not b.critical, b.place_in_group),
    )


def consultation_minutes(slot: Slot) -> float:
    """The median of the slot's consultations (calledAt → completedAt) once 3 are known, else its share of the slot."""
    known = sorted(
        (b.completed_at - b.called_at).total_seconds() / 60
        for b in slot.bookings
        if b.status is Status.COMPLETED and b.called_at is not None and b.completed_at is not None
    )
    if len(known) >= 3:
        return statistics.median(known)
    return (slot.end - slot.start).total_seconds() / 60 / slot.capacity.base


def standings(slot: Slot, now: datetime) -> dict[str, Standing]:
    """Position and estimated call time of every queued booking, by the contract's formula."""
    each = timedelta(minutes=consultation_minutes(slot))
    in_room = slot.called
    result = {}
    for position, booking in enumerate(call_order(slot.bookings)):
        if booking is in_room:
            result[booking.booking_id] = Standing(0, booking.called_at)
            continue
        if in_room is not None and in_room.called_at is not None:
            estimate = max(now, in_room.called_at + each) + (position - 1) * each
        else:
            estimate = max(now, slot.start + timedelta(minutes=slot.delay_minutes)) + position * each
        result[booking.booking_id] = Standing(position, estimate.replace(microsecond=0))
    return result


def answered(slot: Slot, booking: Booking, now: datetime) -> Booking:
    """The booking as an answer carries it: its standing in the slot's queue (None once out of it),
    or its place on the waitlist."""
    return answered_all(slot, [booking], now)[0]


def answered_all(slot: Slot, bookings: Iterable[Booking], now: datetime) -> list[Booking]:
    """`answered` for many bookings of one slot, its queue worked out once.

    Each field goes with the state the answer says: a repeat's first answer (`as_created`) that said
    WAITLISTED says so again with no position, even once the booking has been promoted since.
    """
    standing = standings(slot, now)
    waiting = {b.booking_id: n for n, b in enumerate(slot.waitlist, start=1)}
    return [
        replace(
            b,
            standing=standing.get(b.booking_id) if b.in_queue else None,
            waitlist_position=waiting.get(b.booking_id) if b.status is Status.WAITLISTED else None,
        )
        for b in bookings
    ]


@dataclass(frozen=True)
class BoardLine:
    """What the waiting-room screen shows of a slot: token numbers only, never who holds them."""

    calling: int | None
    next: tuple[int, ...]
    waiting: int


def board_line(slot: Slot) -> BoardLine:
    checked_in = [b.token for b in call_order(slot.bookings) if b.status is Status.CHECKED_IN and b.token]
    in_room = slot.called
    return BoardLine(
        calling=in_room.token if in_room else None, next=tuple(checked_in[:MAX_BOARD_NEXT]), waiting=len(checked_in)
    )


def call_next(slot: Slot, now: datetime, by: str) -> tuple[Slot | None, Booking | None, Booking | None]:
    """Complete the patient in the room and call the first CHECKED_IN one in call order, in one change.

    Returns (the slot to write, or None when nothing changes; the completed booking; the called one).
    """
    completed = called = None
    changed = slot
    if (in_room := slot.called) is not None:
        completed = replace(in_room.became(Status.COMPLETED, now, by), completed_at=now)
        changed = changed.with_booking(completed)
    waiting = next((b for b in call_order(changed.bookings) if b.status is Status.CHECKED_IN), None)
    if waiting is not None:
        called = replace(waiting.became(Status.CALLED, now, by), called_at=now)
        changed = changed.with_booking(called)
    if completed is None and called is None:
        return None, None, None
    return changed, completed, called


def skip(
    slot: Slot, booking: Booking, now: datetime, by: str, delay_reduction_percent: int = 20
) -> tuple[Slot, Booking]:
    """A called patient who does not come in goes to the end of their call-order group.

    The MAX_SKIPS-th skip makes them a no-show, which gives their place back (to the waitlist first).
    """
    if booking.status is not Status.CALLED:
        raise refuse_transition(booking, Status.CHECKED_IN)
    skips = booking.skips + 1
    if skips >= MAX_SKIPS:
        skipped = replace(booking.became(Status.NO_SHOW, now, by), skips=skips)
        changed, _ = promote_waitlist(slot.with_booking(skipped), now, delay_reduction_percent)
        return changed, skipped
    group_end = max(b.place_in_group for b in slot.bookings if b.in_queue and b.critical == booking.critical)
    skipped = replace(booking.became(Status.CHECKED_IN, now, by), skips=skips, queue_position=group_end + 1)
    return slot.with_booking(skipped), skipped
