"""Events in pure code: every change of a slot or booking is exactly its detail-type, kept in the
slot's outbox (bounded), and rendered as the contract's detail from a compact snapshot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import bson
import pytest

from opd import domain, eventbridge, store
from opd.domain import (
    MAX_EVENTS_PER_CHANGE,
    SPILL_AT,
    Booking,
    BookingOptions,
    BookingSnapshot,
    CancelReason,
    Capacity,
    Event,
    EventType,
    Relayed,
    Slot,
    Source,
    Status,
)
from opd.errors import ValidationFailed

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
BEFORE = START - timedelta(hours=2)
LATER = BEFORE + timedelta(minutes=5)
DESK = "desk-1"
PHONE = "+919876543210"

# The contract's Booking and Slot, field for field (contract, "Endpoints").
BOOKING_FIELDS = {
    "bookingId", "slotId", "doctorId", "patientId", "source", "tier", "token", "status", "createdAt",
    "updatedAt", "position", "estimatedCallAt", "waitlistPosition", "calledAt", "completedAt", "skips",
    "cancelReason", "rescheduledFrom", "rescheduledTo", "phone", "patientName", "language", "statusCode", "history",
}  # fmt: skip
SLOT_FIELDS = {
    "slotId", "doctorId", "start", "end", "capacity", "delayed", "delayMinutes", "closed", "limits", "booked",
    "available", "waitlisted",
}  # fmt: skip


def stored(slot: Slot) -> Slot:
    """The slot as the store writes it back: a write bumps the version."""
    return replace(slot, version=slot.version + 1)


def clinic(sources: list[Source], base: int = 10, waitlisted: int = 0) -> Slot:
    """A stored slot, one booking per source (with a phone), then `waitlisted` more on its waitlist."""
    slot = Slot(slot_id="slot-1", doctor_id="dr-1", start=START, end=END, capacity=Capacity(base, 0, 0), version=3)
    for n, source in enumerate([*sources, *[Source.ONLINE] * waitlisted]):
        slot, _ = domain.book(
            slot, f"slot-1.b{n}", f"p{n}", source, BEFORE, 20, BookingOptions(waitlist=True, phone=PHONE)
        )
    return stored(slot)


def clinic_delayed(base: int, booked: int, waitlisted: int) -> Slot:
    """A delayed slot (STANDARD limit cut by 20 %) with `booked` places held and `waitlisted` waiting."""
    slot = replace(clinic([], base=base), delayed=True, delay_minutes=10)
    for n in range(booked + waitlisted):
        slot, _ = domain.book(slot, f"slot-1.b{n}", f"p{n}", Source.ONLINE, BEFORE, 20, BookingOptions(waitlist=True))
    assert len(slot.waitlist) == waitlisted
    return stored(slot)


def moving(slot: Slot) -> Slot:
    """Its first booking being rescheduled: the first of a reschedule's writes is made."""
    return stored(domain.begin_reschedule(slot, slot.bookings[0], "slot-2.n"))


def nth(slot: Slot, n: int) -> Booking:
    return slot.bookings[n]


def checked_in(slot: Slot, *ns: int) -> Slot:
    for n in ns:
        slot, _ = domain.transition(slot, nth(slot, n), Status.CHECKED_IN, BEFORE, by=DESK)
    return stored(slot)


def called(slot: Slot) -> Slot:
    changed, _, _ = domain.call_next(slot, BEFORE, DESK)
    assert changed is not None
    return stored(changed)


def skipped(slot: Slot, times: int) -> Slot:
    for _ in range(times):
        slot = called(slot)
        changed, _ = domain.skip(slot, nth(slot, 0), BEFORE, DESK)
        slot = stored(changed)
    return slot


# Each change: the slot before it, the change (pure), and exactly the detail-types it must publish.
Change = Callable[[Slot], Slot]
CHANGES: list[tuple[str, Callable[[], Slot], Change, list[EventType]]] = [
    ("a booking", lambda: clinic([]), lambda s: domain.book(s, "slot-1.n", "pn", Source.ONLINE, LATER, 20)[0],
     [EventType.BOOKING_CREATED]),
    ("a booking onto the waitlist", lambda: clinic([Source.ONLINE], base=1),
     lambda s: domain.book(s, "slot-1.n", "pn", Source.ONLINE, LATER, 20, BookingOptions(waitlist=True))[0],
     [EventType.BOOKING_WAITLISTED]),
    ("a cancel that promotes", lambda: clinic([Source.ONLINE], base=1, waitlisted=1),
     lambda s: domain.transition(s, nth(s, 0), Status.CANCELLED, LATER, reason=CancelReason.PATIENT)[0],
     [EventType.BOOKING_CANCELLED, EventType.BOOKING_PROMOTED]),
    ("a check-in", lambda: clinic([Source.ONLINE]),
     lambda s: domain.transition(s, nth(s, 0), Status.CHECKED_IN, LATER)[0], [EventType.BOOKING_CHECKED_IN]),
    ("call-next into an empty room", lambda: checked_in(clinic([Source.ONLINE]), 0),
     lambda s: domain.call_next(s, LATER, DESK)[0] or s, [EventType.BOOKING_CALLED]),
    ("call-next completes and calls", lambda: called(checked_in(clinic([Source.ONLINE, Source.WALKIN]), 0, 1)),
     lambda s: domain.call_next(s, LATER, DESK)[0] or s, [EventType.BOOKING_COMPLETED, EventType.BOOKING_CALLED]),
    ("a skip", lambda: called(checked_in(clinic([Source.ONLINE]), 0)),
     lambda s: domain.skip(s, nth(s, 0), LATER, DESK)[0], [EventType.BOOKING_SKIPPED]),
    ("the 3rd skip", lambda: called(skipped(checked_in(clinic([Source.ONLINE]), 0), 2)),
     lambda s: domain.skip(s, nth(s, 0), LATER, DESK)[0], [EventType.BOOKING_SKIPPED, EventType.BOOKING_NO_SHOW]),
    ("a complete from the room", lambda: called(checked_in(clinic([Source.ONLINE]), 0)),
     lambda s: domain.transition(s, nth(s, 0), Status.COMPLETED, LATER)[0], [EventType.BOOKING_COMPLETED]),
    ("a complete without the room", lambda: checked_in(clinic([Source.ONLINE]), 0),
     lambda s: domain.transition(s, nth(s, 0), Status.COMPLETED, LATER)[0], [EventType.BOOKING_COMPLETED]),
    ("a cancel", lambda: clinic([Source.ONLINE]), lambda s: domain.transition(s, nth(s, 0), Status.CANCELLED, LATER)[0],
     [EventType.BOOKING_CANCELLED]),
    ("a waitlisted booking cancelled", lambda: clinic([Source.ONLINE], base=1, waitlisted=1),
     lambda s: domain.transition(s, nth(s, 1), Status.CANCELLED, LATER)[0], [EventType.BOOKING_CANCELLED]),
    ("a no-show", lambda: clinic([Source.ONLINE]), lambda s: domain.transition(s, nth(s, 0), Status.NO_SHOW, LATER)[0],
     [EventType.BOOKING_NO_SHOW]),
    ("a reschedule begun", lambda: clinic([Source.ONLINE]),
     lambda s: domain.begin_reschedule(s, nth(s, 0), "slot-2.n"), []),
    ("a reschedule finished", lambda: moving(clinic([Source.ONLINE])),
     lambda s: domain.finish_reschedule(s, nth(s, 0), LATER, DESK)[0], [EventType.BOOKING_RESCHEDULED]),
    ("a delay set", lambda: clinic([Source.ONLINE]), lambda s: domain.set_delay(s, True, 30, LATER),
     [EventType.SLOT_DELAY_CHANGED]),
    ("a delay cleared that promotes", lambda: clinic_delayed(base=5, booked=4, waitlisted=1),
     lambda s: domain.set_delay(s, False, None, LATER), [EventType.SLOT_DELAY_CHANGED, EventType.BOOKING_PROMOTED]),
    ("leave", lambda: checked_in(clinic([Source.ONLINE, Source.WALKIN], base=2, waitlisted=1), 1),
     lambda s: domain.close_for_leave(s, LATER, DESK)[0] or s,
     [EventType.SLOT_CLOSED, EventType.BOOKING_CANCELLED, EventType.BOOKING_CANCELLED, EventType.BOOKING_CANCELLED]),
    ("the sweep (the waitlist is over: nobody promoted)", lambda: clinic([Source.ONLINE], base=1, waitlisted=1),
     lambda s: domain.mark_no_shows(s, START + timedelta(minutes=20), 15)[0],
     [EventType.BOOKING_NO_SHOW, EventType.BOOKING_CANCELLED]),
    ("the sweep's expiry", lambda: checked_in(clinic([Source.ONLINE], base=1, waitlisted=2), 0),
     lambda s: domain.mark_no_shows(s, START + timedelta(minutes=20), 15)[0],
     [EventType.BOOKING_CANCELLED, EventType.BOOKING_CANCELLED]),
]  # fmt: skip


@pytest.mark.parametrize(("before", "change", "expected"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_every_change_is_exactly_its_events(before: Callable[[], Slot], change: Change, expected: list[str]) -> None:
    was = before()
    found = domain.events_between(was, change(was), LATER)
    assert [e.detail_type for e in found] == expected
    assert [e.event_id for e in found] == [f"slot-1:{was.version + 1}:{n}" for n in range(len(expected))]
    assert all(e.slot_version == was.version + 1 and e.occurred_at == LATER for e in found)


def test_every_detail_type_of_the_contract_is_made_by_some_change() -> None:
    made = {kind for _, before, change, _ in CHANGES for kind in (e.detail_type for e in events_of(before(), change))}
    assert made | {EventType.SLOT_CREATED} == set(EventType)


def events_of(before: Slot, change: Change) -> list[Event]:
    return domain.events_between(before, change(before), LATER)


def test_a_new_slot_is_slot_created_at_its_first_version() -> None:
    slot = domain.new_slot("slot-9", "dr-1", START, END, Capacity(), BEFORE)
    (created,) = domain.events_between(None, slot, BEFORE)
    assert (created.detail_type, created.event_id, created.slot_version) == (EventType.SLOT_CREATED, "slot-9:0:0", 0)


def test_the_cancel_reason_names_what_the_sms_says() -> None:
    slot = clinic([Source.ONLINE], base=1, waitlisted=1)
    closed, _ = domain.close_for_leave(slot, LATER, DESK)
    assert closed is not None
    kinds = [(e.detail_type, closed.booking(e.booking_id or "")) for e in domain.events_between(slot, closed, LATER)]
    assert [(k, b.cancel_reason if b else None) for k, b in kinds] == [
        (EventType.SLOT_CLOSED, None),
        (EventType.BOOKING_CANCELLED, CancelReason.DOCTOR_UNAVAILABLE),
        (EventType.BOOKING_CANCELLED, CancelReason.DOCTOR_UNAVAILABLE),
    ]


# -- the outbox ----------------------------------------------------------------------------------


def test_the_change_and_its_events_are_one_slot_to_write() -> None:
    slot = clinic([Source.ONLINE])
    changed = domain.transition(slot, nth(slot, 0), Status.CHECKED_IN, LATER)[0]
    written = domain.with_events(slot, changed, LATER)
    assert [e.detail_type for e in written.outbox] == [EventType.BOOKING_CHECKED_IN]
    again = stored(written)
    cancel = domain.transition(again, nth(again, 0), Status.COMPLETED, LATER)[0]
    both = domain.with_events(again, cancel, LATER)
    assert [e.detail_type for e in both.outbox] == [EventType.BOOKING_CHECKED_IN, EventType.BOOKING_COMPLETED]


def test_what_the_marker_says_is_published_is_dropped_by_the_next_write() -> None:
    slot = clinic([Source.ONLINE])
    first = stored(domain.with_events(slot, domain.transition(slot, nth(slot, 0), Status.CHECKED_IN, LATER)[0], LATER))
    completed = domain.transition(first, nth(first, 0), Status.COMPLETED, LATER)[0]
    second = domain.with_events(first, completed, LATER, Relayed(through=first.version))
    assert [e.slot_version for e in second.outbox] == [first.version + 1]
    # so does a marker that lists the version above its `through` (published out of order)
    listed = domain.with_events(first, completed, LATER, Relayed(through=0, versions=frozenset({first.version})))
    assert [e.slot_version for e in listed.outbox] == [first.version + 1]
    # a marker that is older than the outbox drops nothing; none at all drops nothing
    assert len(domain.with_events(first, first, LATER, Relayed(through=first.version - 1)).outbox) == 1
    assert len(domain.with_events(first, first, LATER, Relayed(versions=frozenset({9}))).outbox) == 1
    assert len(domain.with_events(first, first, LATER).outbox) == 1


def test_the_relay_marker_climbs_over_the_versions_that_follow_it_without_a_gap() -> None:
    marker = Relayed().merged(Relayed(versions=frozenset({2, 3})))
    assert marker == Relayed(None, frozenset({2, 3})) and not marker.covers(0) and marker.covers(3)
    marker = marker.merged(Relayed(through=0))
    assert marker == Relayed(0, frozenset({2, 3}))  # 1 is still out: 2 and 3 stay listed
    marker = marker.merged(Relayed(versions=frozenset({1, 5})))
    assert marker == Relayed(3, frozenset({5})) and marker.covers(1) and not marker.covers(4)
    assert marker.merged(Relayed(through=7)) == Relayed(7, frozenset())  # `through` only rises
    assert Relayed(through=7).merged(Relayed(through=2, versions=frozenset({4}))) == Relayed(7, frozenset())


def backlog(slot: Slot, count: int) -> Slot:
    pending = tuple(
        Event(EventType.SLOT_DELAY_CHANGED, LATER, slot.slot_id, v, 0, domain.slot_snapshot(slot))
        for v in range(1, count + 1)
    )
    return replace(slot, outbox=pending, version=count)


def test_no_change_is_refused_however_many_events_wait_and_none_is_dropped() -> None:
    slot = backlog(clinic([Source.ONLINE]), 3 * SPILL_AT)
    booking = domain.book(slot, "slot-1.n", "pn", Source.ONLINE, LATER, 20)[0]
    written = domain.with_events(slot, booking, LATER)
    assert len(written.outbox) == 3 * SPILL_AT + 1 and written.outbox[: 3 * SPILL_AT] == slot.outbox
    # once they are published (or moved to the backlog), the next write drops them
    assert len(domain.with_events(slot, booking, LATER, Relayed(through=slot.version)).outbox) == 1


def test_published_through_is_the_last_version_whose_events_all_went_out() -> None:
    def event(version: int, seq: int) -> Event:
        return Event(EventType.BOOKING_CREATED, LATER, "s", version, seq, domain.slot_snapshot(clinic([])))

    outbox = [event(4, 0), event(5, 0), event(5, 1), event(6, 0)]
    ids = [e.event_id for e in outbox]
    assert domain.published_through(outbox, set(ids)) == 6
    assert domain.published_through(outbox, {ids[0], ids[1], ids[3]}) == 4  # 5:1 missing: 5 and 6 go again
    assert domain.published_through(outbox, {ids[1], ids[2]}) is None
    assert domain.published_through([], set()) is None


def test_a_phone_is_e164() -> None:
    slot = clinic([])
    for bad in ("919876543210", "+0919876543", "+91 98765 43210", "+1234567890123456"):
        with pytest.raises(ValidationFailed) as refused:
            domain.book(slot, "slot-1.n", "pn", Source.ONLINE, LATER, 20, BookingOptions(phone=bad))
        assert refused.value.details[0]["field"] == "phone"


# -- the detail, rendered from the snapshot --------------------------------------------------------


def test_a_booking_event_renders_the_booking_as_it_left_it_whatever_came_after() -> None:
    slot = clinic([Source.ONLINE, Source.PAID])
    made = domain.with_events(slot, checked_in(slot, 1), LATER)  # the PAID one checks in: it has a position
    (event,) = made.outbox
    later = stored(made)
    later = stored(called(later))  # then it is called in, and completed
    later = stored(domain.transition(later, nth(later, 1), Status.COMPLETED, LATER + timedelta(minutes=9))[0])
    detail = eventbridge.detail(later, event, 20)
    booking = detail["booking"]
    assert set(booking) == BOOKING_FIELDS and set(detail["slot"]) == SLOT_FIELDS
    assert set(detail) == {"eventId", "occurredAt", "slotId", "slotVersion", "booking", "slot"}
    assert (booking["status"], booking["calledAt"], booking["completedAt"]) == ("CHECKED_IN", None, None)
    assert [h["status"] for h in booking["history"]] == ["BOOKED", "CHECKED_IN"]
    # behind the ONLINE booking (token 1), 6 minutes a consultation (60 minutes, base 10)
    assert booking["position"] == 1 and booking["estimatedCallAt"] == "2026-11-21T09:06:00Z"
    assert (booking["token"], booking["phone"], booking["tier"]) == (2, PHONE, "PREMIUM")
    assert booking["patientName"] is None  # a name never leaves for the bus: no consumer needs it
    assert detail["slot"]["booked"] == 2 and detail["slotVersion"] == slot.version + 1
    assert detail["eventId"] == event.event_id and detail["occurredAt"] == "2026-11-21T07:05:00Z"


def test_history_gives_back_skips_tokens_and_reasons_as_they_were() -> None:
    booking = Booking("s.1", "s", "d", "p", Source.ONLINE, 7, Status.NO_SHOW, BEFORE, LATER, skips=3)
    lines = [Status.WAITLISTED, Status.BOOKED, Status.CHECKED_IN, Status.CALLED, Status.CHECKED_IN, Status.CALLED]
    booking = replace(
        booking, history=tuple(domain.Change(s, BEFORE + timedelta(minutes=i), DESK) for i, s in enumerate(lines))
    )
    at = {n: domain.booking_as_it_was(booking, BookingSnapshot(n)) for n in (1, 2, 5, 6)}
    assert (at[1].status, at[1].token, at[1].updated_at) == (Status.WAITLISTED, None, BEFORE)
    assert (at[2].status, at[2].token) == (Status.BOOKED, 7)
    assert (at[5].skips, at[5].called_at, at[6].skips) == (1, BEFORE + timedelta(minutes=3), 1)
    assert at[6].called_at == BEFORE + timedelta(minutes=5)


def test_a_delay_names_the_booked_and_checked_in_phones_then() -> None:
    slot = checked_in(clinic([Source.ONLINE, Source.WALKIN, Source.ONLINE], base=2), 1)  # the 3rd waits
    slot = stored(
        domain.transition(slot, nth(slot, 0), Status.CANCELLED, BEFORE)[0]
    )  # the 1st cancels: the 3rd is promoted
    delayed = domain.with_events(slot, domain.set_delay(slot, True, 30, LATER), LATER)
    (event,) = delayed.outbox
    assert event.slot.recipients == ("slot-1.b1", "slot-1.b2")  # the cancelled one is not told
    detail = eventbridge.detail(stored(delayed), event, 20)
    assert [r["bookingId"] for r in detail["recipients"]] == list(event.slot.recipients)
    assert detail["slot"]["delayed"] is True and detail["slot"]["limits"]["STANDARD"] == 1


def test_an_entry_is_json_with_the_detail_type() -> None:
    slot = clinic([])
    written = domain.with_events(slot, domain.book(slot, "slot-1.n", "pn", Source.ONLINE, LATER, 20)[0], LATER)
    (entry,) = eventbridge.entries(written, written.outbox, 20)
    assert entry.detail_type == "BookingCreated" and entry.time == LATER
    assert json.loads(entry.detail)["booking"]["status"] == "BOOKED"


# -- stored compactly, and bounded ----------------------------------------------------------------


def test_the_outbox_goes_through_the_store_and_back_unchanged() -> None:
    slot = checked_in(clinic([Source.ONLINE, Source.WALKIN, Source.PAID], base=2, waitlisted=1), 0)
    slot = domain.with_events(slot, domain.set_delay(slot, True, 1440, LATER), LATER)
    slot = stored(slot)
    slot = domain.with_events(slot, domain.transition(slot, nth(slot, 2), Status.CANCELLED, LATER)[0], LATER)
    doc = store.slot_to_doc(slot)
    assert doc["outboxPending"] is True
    back = store.slot_from_doc(bson.decode(bson.encode(doc)))
    assert back.outbox == slot.outbox and back.outbox[0].slot.recipients
    assert store.slot_to_doc(replace(slot, outbox=()))["outboxPending"] is False


def test_the_largest_outbox_on_the_largest_slot_stays_under_256_kib() -> None:
    """The worst the outbox can hold: SPILL_AT - 1 waiting (the largest kind: delays naming
    every queued phone) and then one change's most (every waiting and queued booking moved), on the
    largest slot a client can build (every booking kept, with an Idempotency-Key and a phone)."""
    places = domain.MAX_PLACES
    slot = Slot("slot-" + "a" * 24, "d" * 64, START, END, Capacity(places - 10, 5, 5))
    for n in range(places * domain.BOOKINGS_PER_PLACE):
        patient = f"{n:04d}".ljust(64, "x")
        slot, booking = domain.book(slot, f"{slot.slot_id}.{n:016x}", patient, Source.EMERGENCY, BEFORE, 20,
                                    BookingOptions(patient, phone="+" + "9" * 15, idempotency_key="k" * 32,
                                                   request_hash="h" * 32))  # fmt: skip
        if n < len(range(places * domain.BOOKINGS_PER_PLACE)) - places:
            slot, _ = domain.transition(slot, booking, Status.CANCELLED, BEFORE, by=patient)
    slot = replace(slot, delayed=True, delay_minutes=domain.MAX_DELAY_MINUTES)
    snapshot = domain.slot_snapshot(slot, with_recipients=True)
    assert len(snapshot.recipients) == places
    waiting = [
        Event(EventType.SLOT_DELAY_CHANGED, LATER, slot.slot_id, 2**30 + v, 0, snapshot) for v in range(SPILL_AT - 1)
    ]
    one_change = [
        Event(EventType.BOOKING_RESCHEDULED, LATER, slot.slot_id, 2**31 - 1, seq, domain.slot_snapshot(slot),
              slot.bookings[-1].booking_id, BookingSnapshot(1000, 1000, LATER + timedelta(microseconds=1), 1000))
        for seq in range(MAX_EVENTS_PER_CHANGE)
    ]  # fmt: skip
    doc = store.slot_to_doc(replace(slot, outbox=(*waiting, *one_change)))
    size = len(bson.encode(doc))
    outbox = len(bson.encode({"outbox": doc["outbox"]}))
    print(f"\nlargest slot with the largest outbox: {size} bytes, of which the outbox {outbox}")
    assert size < 256 * 1024, f"{size} bytes"
    assert len(doc["bookings"]) == places * domain.BOOKINGS_PER_PLACE and outbox > 20_000  # the worst was built
