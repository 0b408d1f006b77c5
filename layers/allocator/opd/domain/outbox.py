"""The outbox: the events a change tells the world, derived in pure code and written with the change.

`events_between` is the one place that knows which change is which detail-type (from the
bookings' histories and `states.EVENTS`); `with_events` puts them in the slot's outbox, so a change
and its events are one conditional write; `booking_as_it_was` gives back a booking as an event
left it, for its detail (rendered in `opd.eventbridge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby, pairwise

from opd.domain.model import MAX_PLACES, Booking, BookingSnapshot, Event, Slot, SlotSnapshot, Standing
from opd.domain.queue import standings
from opd.domain.states import HOLDS_PLACE, TOLD_OF_DELAY, EventType, Status, event_types, is_skip

# Unpublished events a slot keeps in its own document. Past them, the request that wrote the slot
# moves them to the event backlog (a collection of their own, `opd.backlog`) and the next write drops
# them, so with the most one change adds (`MAX_EVENTS_PER_CHANGE`) the document stays under 256 KiB
# however long EventBridge is away. Never reached while the bus takes events: the request publishes
# its own, and every write drops what is known to be published (or moved).
SPILL_AT = 50
MAX_WAITLIST_LIMIT = 100  # the WAITLIST_LIMIT setting's upper bound
# One change moves each of the slot's waiting or queued bookings at most once (a 3rd skip is two
# events for one booking, and it moves no one else), plus one slot event.
MAX_EVENTS_PER_CHANGE = MAX_PLACES + MAX_WAITLIST_LIMIT + 1


def slot_snapshot(slot: Slot, with_recipients: bool = False) -> SlotSnapshot:
    recipients = tuple(b.booking_id for b in slot.bookings if b.status in TOLD_OF_DELAY and b.phone)
    return SlotSnapshot(
        delayed=slot.delayed,
        delay_minutes=slot.delay_minutes,
        closed=slot.closed,
        booked=slot.booked,
        waitlisted=len(slot.waitlist),
        recipients=recipients if with_recipients else (),
    )


def events_between(before: Slot | None, after: Slot, now: datetime) -> list[Event]:
    """The events of the change from `before` (None: a new slot) to `after`: the one place that knows
    which change is which detail-type. Slot events first, then each booking's, in the slot's order.

    Read from the bookings' histories: every line a change added is one move, so a booking moved
    twice by one change (never today) would still tell both.
    """
    version = after.version if before is None else before.version + 1
    plain = slot_snapshot(after)  # every event carries the slot as the change left it
    found: list[tuple[EventType, Booking | None, BookingSnapshot | None]] = []
    if before is None:
        found.append((EventType.SLOT_CREATED, None, None))
    else:
        if (before.delayed, before.delay_minutes) != (after.delayed, after.delay_minutes):
            found.append((EventType.SLOT_DELAY_CHANGED, None, None))
        if after.closed and not before.closed:
            found.append((EventType.SLOT_CLOSED, None, None))
    earlier = {b.booking_id: b for b in before.bookings} if before is not None else {}
    standing = waiting = None
    for booking in after.bookings:
        was = earlier.get(booking.booking_id)
        seen = len(was.history) if was is not None else 0
        if len(booking.history) <= seen:
            continue
        if standing is None or waiting is None:  # only for changes that move a booking
            standing, waiting = standings(after, now), [b.booking_id for b in after.waitlist]
        for length in range(seen + 1, len(booking.history) + 1):
            previous = booking.history[length - 2].status if length > 1 else None
            last = length == len(booking.history)
            now_standing = standing.get(booking.booking_id) if last else None
            snapshot = BookingSnapshot(
                history_length=length,
                position=now_standing.position if now_standing else None,
                estimated_call_at=now_standing.estimated_call_at if now_standing else None,
                waitlist_position=(
                    waiting.index(booking.booking_id) + 1 if last and booking.booking_id in waiting else None
                ),
            )
            reason = booking.cancel_reason if last else None
            for kind in event_types(previous, booking.history[length - 1].status, reason):
                found.append((kind, booking, snapshot))
    return [
        Event(
            detail_type=kind,
            occurred_at=now,
            slot_id=after.slot_id,
            slot_version=version,
            seq=seq,
            booking_id=booking.booking_id if booking is not None else None,
            booking=snapshot,
            slot=slot_snapshot(after, with_recipients=kind is EventType.SLOT_DELAY_CHANGED and after.delayed)
            if kind is EventType.SLOT_DELAY_CHANGED
            else plain,
        )
        for seq, (kind, booking, snapshot) in enumerate(found)
    ]


@dataclass(frozen=True)
class Relayed:
    """What of a slot's events is known to be on the bus (or in the event backlog): every event of a
    version up to `through`, and every event of the `versions` above it.

    Requests publish only their own change's events, right after their write, so on a hot slot the
    versions go out of order (the next writer may publish before the last one has said so): a single
    "published through" would make each writer publish its predecessors' events again. The marker is
    kept in Redis (`opd.lock`), whose script merges as `merged` does.
    """

    through: int | None = None
    versions: frozenset[int] = frozenset()

    def covers(self, version: int) -> bool:
        return (self.through is not None and version <= self.through) or version in self.versions

    def merged(self, news: Relayed) -> Relayed:
        """This marker with `news` added; `through` climbs over the versions that now follow it without a gap."""
        through = max(
            self.through if self.through is not None else -1, news.through if news.through is not None else -1
        )
        above = {v for v in (*self.versions, *news.versions) if v > through}
        while through + 1 in above:
            through += 1
            above.discard(through)
        return Relayed(through if through >= 0 else None, frozenset(above))

    def unpublished(self, outbox: Sequence[Event]) -> list[Event]:
        return [e for e in outbox if not self.covers(e.slot_version)]


def with_events(before: Slot | None, after: Slot, now: datetime, relayed: Relayed | None = None) -> Slot:
    """`after` as it must be written: its outbox is what `before` held, less what `relayed` says is
    published, and the events of this change.

    So a change and its events are one write: neither can exist without the other. Events never
    refuse a change: past `SPILL_AT` the writer moves them out of the document (the marker then
    covers them too).
    """
    held = before.outbox if before is not None else ()
    kept = tuple(held) if relayed is None else tuple(relayed.unpublished(held))
    return replace(after, outbox=(*kept, *events_between(before, after, now)))


def published_through(outbox: Sequence[Event], published: set[str] | frozenset[str]) -> int | None:
    """The highest version all of whose events, and all older ones in `outbox`, are in `published`."""
    through = None
    for version, events in groupby(outbox, key=lambda e: e.slot_version):
        if any(e.event_id not in published for e in events):
            break
        through = version
    return through


def booking_as_it_was(booking: Booking, snapshot: BookingSnapshot) -> Booking:
    """`booking` (as it is now) as the event left it: its history up to the event says the rest."""
    lines = booking.history[: snapshot.history_length]
    if not lines:  # a booking stored without history (none are): as it is
        return booking
    status = lines[-1].status
    calls = [line.at for line in lines if line.status is Status.CALLED]
    return replace(
        booking,
        status=status,
        updated_at=lines[-1].at,
        history=lines,
        token=booking.token if any(line.status in HOLDS_PLACE for line in lines) else None,
        called_at=calls[-1] if calls else None,
        completed_at=next((line.at for line in lines if line.status is Status.COMPLETED), None),
        skips=sum(1 for a, b in pairwise(lines) if is_skip(a.status, b.status)),
        cancel_reason=booking.cancel_reason if status is Status.CANCELLED else None,
        rescheduled_to=booking.rescheduled_to if status is Status.CANCELLED else None,
        standing=(Standing(snapshot.position, snapshot.estimated_call_at) if snapshot.position is not None else None),
        waitlist_position=snapshot.waitlist_position,
    )
