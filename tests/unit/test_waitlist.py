"""The waitlist in pure code: joining, its limit, and promotion in the same change that frees a place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from opd import domain, store
from opd.domain import Booking, BookingOptions, CancelReason, Capacity, Change, Slot, Source, Status
from opd.errors import DuplicateBooking, InvalidTransition, SlotClosed, SlotFull, WaitlistFull

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
BEFORE = START - timedelta(hours=2)
LATER = BEFORE + timedelta(minutes=5)
PCT = 20


def empty(base: int = 2, premium: int = 1, emergency: int = 0) -> Slot:
    return Slot(slot_id="s", doctor_id="dr-1", start=START, end=END, capacity=Capacity(base, premium, emergency))


def book(slot: Slot, patient: str, source: Source = Source.ONLINE, limit: int = 10) -> tuple[Slot, Booking]:
    return domain.book(
        slot, f"s.{patient}", patient, source, BEFORE, PCT, BookingOptions(patient, waitlist=True, waitlist_limit=limit)
    )


def fill(slot: Slot, patients: list[str], source: Source = Source.ONLINE) -> Slot:
    for patient in patients:
        slot, _ = book(slot, patient, source)
    return slot


def status_of(slot: Slot, patient: str) -> tuple[Status, int | None]:
    booking = slot.booking(f"s.{patient}")
    assert booking is not None
    return booking.status, booking.token


def test_a_full_tier_with_waitlist_asked_for_waitlists_without_a_place_or_token() -> None:
    slot = fill(empty(), ["a", "b"])
    slot, waiting = book(slot, "c")
    assert (waiting.status, waiting.token) == (Status.WAITLISTED, None)
    assert waiting.history == (Change(Status.WAITLISTED, BEFORE, "c"),)
    assert slot.booked == 2 and slot.next_token == 3  # no place and no token taken
    slot, second = book(slot, "d")
    assert [b.booking_id for b in slot.waitlist] == ["s.c", "s.d"]
    assert domain.answered(slot, second, BEFORE).waitlist_position == 2
    assert domain.answered(slot, second, BEFORE).standing is None


def test_without_waitlist_a_full_tier_is_still_slot_full() -> None:
    slot = fill(empty(), ["a", "b"])
    with pytest.raises(SlotFull):
        domain.book(slot, "s.c", "c", Source.ONLINE, BEFORE, PCT)


def test_a_tier_with_room_books_even_when_waitlist_is_asked_for() -> None:
    _, booking = book(empty(), "a")
    assert (booking.status, booking.token) == (Status.BOOKED, 1)


def test_the_waitlist_has_a_limit() -> None:
    slot = fill(empty(), ["a", "b"])
    slot, _ = book(slot, "c", limit=1)
    with pytest.raises(WaitlistFull) as refused:
        book(slot, "d", limit=1)
    assert refused.value.details == [{"tier": "STANDARD", "limit": 2, "booked": 2, "waitlisted": 1}]


def test_a_waitlisted_patient_already_holds_a_booking_in_the_slot() -> None:
    slot = fill(empty(), ["a", "b", "c"])
    with pytest.raises(DuplicateBooking):
        book(slot, "c", Source.PAID)


def test_a_cancel_promotes_the_first_waitlisted_with_the_next_token_in_the_same_change() -> None:
    slot = fill(empty(), ["a", "b", "c", "d"])
    a = slot.booking("s.a")
    assert a is not None
    slot, cancelled = domain.transition(slot, a, Status.CANCELLED, LATER, "a", PCT, CancelReason.PATIENT)
    assert cancelled.cancel_reason is CancelReason.PATIENT
    assert status_of(slot, "c") == (Status.BOOKED, 3)
    assert status_of(slot, "d") == (Status.WAITLISTED, None)
    promoted = slot.booking("s.c")
    assert promoted is not None and promoted.history[-1] == Change(Status.BOOKED, LATER, domain.SYSTEM)
    assert slot.booked == 2 and slot.next_token == 4


def test_a_waitlisted_booking_is_promoted_only_if_its_tier_has_room() -> None:
    # STANDARD 2, PREMIUM 3: the freed place is PREMIUM's only, so the earlier STANDARD waits on.
    slot = fill(empty(), ["a", "b"])
    slot, _ = book(slot, "s1")  # waitlisted STANDARD, joined first
    slot, _ = book(slot, "p1", Source.PAID)  # the PREMIUM buffer's place
    slot, _ = book(slot, "p2", Source.PAID)  # waitlisted PREMIUM
    a = slot.booking("s.a")
    assert a is not None
    slot, _ = domain.transition(slot, a, Status.CANCELLED, LATER, "desk", PCT)
    assert status_of(slot, "s1") == (Status.WAITLISTED, None)
    assert status_of(slot, "p2") == (Status.BOOKED, 4)


def test_the_sweep_promotes_nobody_it_marks_no_shows_and_ends_the_waitlist() -> None:
    slot = fill(empty(base=3, premium=0), ["a", "b", "c", "w1", "w2", "w3", "w4"])
    checked_in = slot.booking("s.b")
    assert checked_in is not None
    slot, _ = domain.transition(slot, checked_in, Status.CHECKED_IN, LATER, "desk", PCT)
    at_grace = START + timedelta(minutes=15)
    swept, marked = domain.mark_no_shows(slot, at_grace, 15)
    assert sorted(b.booking_id for b in marked) == ["s.a", "s.c"]
    for patient in ("w1", "w2", "w3", "w4"):
        expired = swept.booking(f"s.{patient}")
        assert expired is not None
        assert (expired.status, expired.cancel_reason, expired.token) == (
            Status.CANCELLED,
            CancelReason.WAITLIST_EXPIRED,
            None,
        )
    assert swept.waitlist == [] and swept.booked == 1  # the no-shows' places stay free for new bookings
    assert domain.mark_no_shows(swept, at_grace, 15) == (swept, [])  # a second run changes nothing


def test_from_start_plus_grace_the_waitlist_is_over() -> None:
    slot = replace(fill(empty(base=1, premium=0), ["a", "w"]), waitlist_ends_at=START + timedelta(minutes=15))
    over = START + timedelta(minutes=15)
    a = slot.booking("s.a")
    assert a is not None and slot.waitlist_open(over - timedelta(seconds=1)) and not slot.waitlist_open(over)
    with pytest.raises(SlotFull):  # a full tier refuses even a patient who asks to wait
        domain.book(slot, "s.late", "late", Source.ONLINE, over, PCT, BookingOptions(waitlist=True))
    cancelled, _ = domain.transition(slot, a, Status.CANCELLED, over, "desk", PCT)
    assert [b.booking_id for b in cancelled.waitlist] == ["s.w"] and cancelled.booked == 0  # nobody promoted
    before, _ = domain.transition(slot, a, Status.CANCELLED, over - timedelta(seconds=1), "desk", PCT)
    assert before.waitlist == [] and before.booked == 1  # a moment earlier, the waitlist got the place


def test_the_sweep_expires_a_waitlist_even_where_nobody_is_marked() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w"])
    a = slot.booking("s.a")
    assert a is not None
    slot, _ = domain.transition(slot, a, Status.CHECKED_IN, LATER, "desk", PCT)
    assert slot.awaiting_arrival  # the waitlist alone keeps the slot in the sweeper's index
    swept, marked = domain.mark_no_shows(slot, START + timedelta(minutes=15), 15)
    assert marked == [] and swept.waitlist == [] and not swept.awaiting_arrival


def test_a_delay_cleared_promotes_into_the_places_it_opens() -> None:
    slot = replace(empty(base=10, premium=0), delayed=True)  # STANDARD limit 8 while delayed
    slot = fill(slot, [f"p{n}" for n in range(10)])
    assert len(slot.waitlist) == 2
    cleared = domain.set_delay(slot, False, None, LATER, PCT)
    assert cleared.waitlist == [] and cleared.booked == 10
    assert domain.set_delay(slot, True, 30, LATER, PCT).waitlist == slot.waitlist  # a delay opens nothing


def test_the_third_skip_gives_the_place_to_the_waitlist() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w"])
    a = slot.booking("s.a")
    assert a is not None
    slot, _ = domain.transition(slot, a, Status.CHECKED_IN, LATER, "desk", PCT)
    for _ in range(domain.MAX_SKIPS):
        slot, _, called = domain.call_next(slot, LATER, "desk")  # type: ignore[assignment]
        assert called is not None
        slot, _ = domain.skip(slot, called, LATER, "desk", PCT)
    assert status_of(slot, "a") == (Status.NO_SHOW, 1)
    assert status_of(slot, "w") == (Status.BOOKED, 2)


def test_cancelling_a_waitlisted_booking_frees_nothing_and_promotes_nobody() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w1", "w2"])
    w1 = slot.booking("s.w1")
    assert w1 is not None
    slot, cancelled = domain.transition(slot, w1, Status.CANCELLED, LATER, "w1", PCT, CancelReason.PATIENT)
    assert (cancelled.status, cancelled.token) == (Status.CANCELLED, None)
    assert status_of(slot, "w2") == (Status.WAITLISTED, None)
    with pytest.raises(InvalidTransition):
        domain.transition(slot, cancelled, Status.CHECKED_IN, LATER, "desk", PCT)


def test_a_closed_slot_takes_no_bookings_and_no_waitlist() -> None:
    with pytest.raises(SlotClosed):
        book(replace(empty(), closed=True), "a")


def test_a_repeat_of_a_waitlisting_request_is_answered_as_waitlisted() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w"])
    a = slot.booking("s.a")
    assert a is not None
    slot, _ = domain.transition(slot, a, Status.CANCELLED, LATER, "a", PCT)
    promoted = slot.booking("s.w")
    assert promoted is not None and promoted.status is Status.BOOKED
    first = promoted.as_created()
    assert (first.status, first.token, first.updated_at) == (Status.WAITLISTED, None, BEFORE)


# -- rescheduling's three steps in one slot each ----------------------------------------------


def test_a_reschedule_marks_then_cancels_the_old_booking_and_promotes() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w"])
    a = slot.booking("s.a")
    assert a is not None
    marked = domain.begin_reschedule(slot, a, "t.new")
    assert marked.reschedules_pending and marked.booked == 1  # keeps its place while the move is under way
    assert domain.begin_reschedule(marked, marked.bookings[0], "t.new") == marked  # a retry changes nothing
    with pytest.raises(InvalidTransition):
        domain.begin_reschedule(marked, marked.bookings[0], "t.other")
    with pytest.raises(InvalidTransition):  # nor can it be cancelled meanwhile
        domain.transition(marked, marked.bookings[0], Status.CANCELLED, LATER, "a", PCT)
    done, old = domain.finish_reschedule(marked, marked.bookings[0], LATER, "a", PCT)
    assert (old.status, old.cancel_reason, old.rescheduled_to) == (Status.CANCELLED, CancelReason.RESCHEDULED, "t.new")
    assert not done.reschedules_pending and status_of(done, "w") == (Status.BOOKED, 2)


def test_an_abandoned_reschedule_leaves_the_booking_as_it_was() -> None:
    slot = fill(empty(), ["a"])
    a = slot.booking("s.a")
    assert a is not None
    marked = domain.begin_reschedule(slot, a, "t.new")
    restored = domain.abandon_reschedule(marked, marked.bookings[0])
    assert restored == slot
    assert domain.abandon_reschedule(slot, a) is None


def test_a_move_is_placed_in_the_target_at_most_once() -> None:
    old = fill(empty(), ["a"]).bookings[0]
    target = replace(empty(), slot_id="t")
    placed, new = domain.place_rescheduled(
        target, old, "t.new", LATER, PCT, BookingOptions("desk", idempotency_key="key", request_hash="body")
    )
    assert placed is not None and placed.bookings == (new,)
    assert (new.booking_id, new.patient_id, new.source, new.token, new.status) == (
        "t.new",
        "a",
        Source.ONLINE,
        1,
        Status.BOOKED,
    )
    assert (new.rescheduled_from, new.idempotency_key, new.request_hash) == ("s.a", "key", "body")
    assert new.history == (Change(Status.BOOKED, LATER, "desk"),)
    assert domain.place_rescheduled(placed, old, "t.new", LATER, PCT) == (None, new)  # written again: no change


def test_a_refused_move_stays_refused_whatever_room_the_target_has_later() -> None:
    old = fill(empty(), ["a"]).bookings[0]
    full = fill(replace(empty(base=1, premium=0), slot_id="t"), ["b"])
    with pytest.raises(SlotFull):
        domain.place_rescheduled(full, old, "t.new", LATER, PCT)
    refused = domain.refuse_reschedule(full, "t.new", "SLOT_FULL", LATER)
    assert refused is not None and refused.refused_reschedules == (
        domain.RefusedReschedule("t.new", "SLOT_FULL", LATER),
    )
    assert domain.refuse_reschedule(refused, "t.new", "SLOT_FULL", LATER) is None  # recorded already
    b = refused.booking("s.b")
    assert b is not None
    room, _ = domain.transition(refused, b, Status.CANCELLED, LATER, "b", PCT)
    with pytest.raises(SlotFull) as again:
        domain.place_rescheduled(room, old, "t.new", LATER, PCT)
    assert again.value.details == [{"slotId": "t", "bookingId": "t.new"}]
    other, _ = domain.place_rescheduled(room, old, "t.other", LATER, PCT)  # another attempt, another id, may
    assert other is not None
    placed, _ = domain.place_rescheduled(replace(empty(), slot_id="t"), old, "t.new", LATER, PCT)
    assert placed is not None and domain.refuse_reschedule(placed, "t.new", "SLOT_FULL", LATER) is None  # made: no


def test_a_slot_keeps_its_refused_moves_bounded() -> None:
    slot: Slot | None = replace(empty(), slot_id="t")
    day = domain.REFUSED_RESCHEDULES_KEPT_FOR
    for n in range(domain.MAX_REFUSED_RESCHEDULES + 5):
        assert slot is not None
        slot = domain.refuse_reschedule(slot, f"t.{n}", "SLOT_FULL", LATER + timedelta(seconds=n))
    assert slot is not None
    kept = [r.booking_id for r in slot.refused_reschedules]
    assert kept == [f"t.{n}" for n in range(5, domain.MAX_REFUSED_RESCHEDULES + 5)]  # the newest, oldest first
    much_later = domain.refuse_reschedule(slot, "t.late", "SLOT_CLOSED", LATER + day + timedelta(seconds=10))
    assert much_later is not None
    assert [r.booking_id for r in much_later.refused_reschedules] == [f"t.{n}" for n in range(11, 25)] + ["t.late"]


def test_the_waitlist_fields_survive_the_store_round_trip() -> None:
    slot = fill(empty(base=1, premium=0), ["a", "w1", "w2"])
    a = slot.booking("s.a")
    assert a is not None
    slot = domain.begin_reschedule(slot, a, "t.new")
    slot, _ = domain.finish_reschedule(slot, slot.bookings[0], LATER, "a", PCT)
    refused = domain.refuse_reschedule(slot, "s.refused", "SLOT_CLOSED", LATER.astimezone(timezone(timedelta(hours=5))))
    assert refused is not None
    slot = replace(refused, closed=True)
    doc = store.slot_to_doc(slot)
    assert store.slot_from_doc(doc) == slot
    assert (doc["awaitingArrival"], doc["movesPending"], doc["closed"]) == (True, False, True)
    assert doc["refusedMoves"] == [{"bookingId": "s.refused", "code": "SLOT_CLOSED", "at": LATER}]
