"""The states a booking moves through, and what each move tells the world: the one place a new state goes.

A new state is a line in `Status`, its membership of the sets below, its moves in `TRANSITIONS`
(or in `EVENTS` alone, for the moves only the room and the sweeper make), and the events of those
moves in `EVENTS`; then the places that show it to people (the contract's enum, the SMS texts in
`opd.messages`, the desk's actions in `web/desk.js`).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITLISTED = "WAITLISTED"
    BOOKED = "BOOKED"
    CHECKED_IN = "CHECKED_IN"
    CALLED = "CALLED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


class CancelReason(StrEnum):
    PATIENT = "PATIENT"  # the patient cancelled their own booking
    STAFF = "STAFF"  # reception or admin cancelled it
    RESCHEDULED = "RESCHEDULED"  # moved to another slot: `rescheduled_to` names the new booking
    DOCTOR_UNAVAILABLE = "DOCTOR_UNAVAILABLE"  # the doctor is on leave
    WAITLIST_EXPIRED = "WAITLIST_EXPIRED"  # still waitlisted at start + grace


class EventType(StrEnum):
    """The contract's detail-types (contract, "Events and SMS")."""

    BOOKING_CREATED = "BookingCreated"
    BOOKING_WAITLISTED = "BookingWaitlisted"
    BOOKING_PROMOTED = "BookingPromoted"
    BOOKING_CHECKED_IN = "BookingCheckedIn"
    BOOKING_CALLED = "BookingCalled"
    BOOKING_SKIPPED = "BookingSkipped"
    BOOKING_COMPLETED = "BookingCompleted"
    BOOKING_CANCELLED = "BookingCancelled"
    BOOKING_NO_SHOW = "BookingNoShow"
    BOOKING_RESCHEDULED = "BookingRescheduled"
    SLOT_CREATED = "SlotCreated"
    SLOT_DELAY_CHANGED = "SlotDelayChanged"
    SLOT_CLOSED = "SlotClosed"


# A slot's capacity counts consultations: finishing one early does not open the slot to more
# patients, so COMPLETED keeps its place; only CANCELLED and NO_SHOW give places back.
HOLDS_PLACE = frozenset({Status.BOOKED, Status.CHECKED_IN, Status.CALLED, Status.COMPLETED})
IN_QUEUE = frozenset({Status.BOOKED, Status.CHECKED_IN, Status.CALLED})  # what /queue lists
# A waitlisted patient holds no place, but does hold a booking in the slot (for DUPLICATE_BOOKING).
HOLDS_OR_WAITS = HOLDS_PLACE | {Status.WAITLISTED}
# Not here yet: the sweeper looks for slots with such bookings once start + grace has passed.
AWAITING_ARRIVAL = frozenset({Status.BOOKED, Status.WAITLISTED})
# Told by SMS when their doctor is late: the patients still to be seen who have not been called.
TOLD_OF_DELAY = frozenset({Status.BOOKED, Status.CHECKED_IN})
LEAVE_CANCELS = frozenset({Status.WAITLISTED, Status.BOOKED, Status.CHECKED_IN})  # CALLED and final ones stay

# The moves of the booking endpoints (cancel, check-in, no-show, complete); call-next and skip
# make theirs in `queue.call_next` and `queue.skip`. Anything else is INVALID_TRANSITION.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.WAITLISTED: frozenset({Status.CANCELLED}),
    Status.BOOKED: frozenset({Status.CHECKED_IN, Status.CANCELLED, Status.NO_SHOW}),
    Status.CHECKED_IN: frozenset({Status.COMPLETED, Status.CANCELLED}),  # cancelled: the patient left (v3)
    Status.CALLED: frozenset({Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}

# Every move a booking can make, whoever makes it, and the events it tells: (from, to), from None
# for a new booking. A CANCELLED that is a reschedule tells BookingRescheduled instead (`event_types`).
EVENTS: dict[tuple[Status | None, Status], tuple[EventType, ...]] = {
    (None, Status.BOOKED): (EventType.BOOKING_CREATED,),
    (None, Status.WAITLISTED): (EventType.BOOKING_WAITLISTED,),
    (Status.WAITLISTED, Status.BOOKED): (EventType.BOOKING_PROMOTED,),  # a place came free
    (Status.WAITLISTED, Status.CANCELLED): (EventType.BOOKING_CANCELLED,),  # cancelled, expired, leave
    (Status.BOOKED, Status.CHECKED_IN): (EventType.BOOKING_CHECKED_IN,),
    (Status.BOOKED, Status.CANCELLED): (EventType.BOOKING_CANCELLED,),
    (Status.BOOKED, Status.NO_SHOW): (EventType.BOOKING_NO_SHOW,),
    (Status.CHECKED_IN, Status.CALLED): (EventType.BOOKING_CALLED,),  # call-next
    (Status.CHECKED_IN, Status.COMPLETED): (EventType.BOOKING_COMPLETED,),
    (Status.CHECKED_IN, Status.CANCELLED): (EventType.BOOKING_CANCELLED,),  # the patient left, or leave
    (Status.CALLED, Status.COMPLETED): (EventType.BOOKING_COMPLETED,),
    (Status.CALLED, Status.CHECKED_IN): (EventType.BOOKING_SKIPPED,),  # to the end of the group
    (Status.CALLED, Status.NO_SHOW): (EventType.BOOKING_SKIPPED, EventType.BOOKING_NO_SHOW),  # the last skip
}


def event_types(earlier: Status | None, later: Status, reason: CancelReason | None) -> tuple[EventType, ...]:
    """The events of one line of a booking's history: from `earlier` (None: a new booking) to `later`."""
    if later is Status.CANCELLED and reason is CancelReason.RESCHEDULED:
        return (EventType.BOOKING_RESCHEDULED,)
    return EVENTS.get((earlier, later), ())


def is_skip(earlier: Status, later: Status) -> bool:
    """A move that skips a called patient (the last one also makes them a no-show)."""
    return EventType.BOOKING_SKIPPED in EVENTS.get((earlier, later), ())
