"""Every allocation rule, in pure code: no sockets, no clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import bson
import pytest

from opd import domain, store
from opd.domain import Booking, BookingOptions, Capacity, Slot, Source, Status, Tier
from opd.errors import (
    DuplicateBooking,
    IdempotencyConflict,
    InvalidTransition,
    SlotClosed,
    SlotFull,
    ValidationFailed,
)

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
BEFORE = START - timedelta(hours=2)


KEYED = BookingOptions(idempotency_key="key-1", request_hash="body-1")


def make_slot(**changes: object) -> Slot:
    slot = Slot(slot_id="slot-1", doctor_id="dr-1", start=START, end=END)
    return replace(slot, **changes)  # type: ignore[arg-type]


def fill(slot: Slot, sources: list[Source], pct: int = 20) -> tuple[Slot, list[Booking]]:
    made = []
    for source in sources:
        token = slot.next_token
        slot, booking = domain.book(slot, f"slot-1.b{token}", f"p{token}", source, BEFORE, pct)
        made.append(booking)
    return slot, made


@pytest.mark.parametrize(
    ("source", "tier"),
    [
        (Source.ONLINE, Tier.STANDARD),
        (Source.WALKIN, Tier.STANDARD),
        (Source.PAID, Tier.PREMIUM),
        (Source.FOLLOWUP, Tier.PREMIUM),
        (Source.EMERGENCY, Tier.CRITICAL),
    ],
)
def test_each_source_maps_to_its_tier(source: Source, tier: Tier) -> None:
    assert domain.TIER_OF_SOURCE[source] is tier


@pytest.mark.parametrize(
    ("capacity", "delayed", "pct", "expected"),
    [
        (Capacity(), False, 20, (10, 12, 15)),
        (Capacity(), True, 20, (8, 10, 15)),
        (Capacity(base=7, premium_buffer=1, emergency_buffer=4), False, 20, (7, 8, 12)),
        (Capacity(base=7, premium_buffer=1, emergency_buffer=4), True, 20, (5, 6, 12)),  # floor(5.6)
        (Capacity(base=10), True, 50, (5, 7, 15)),  # the reduction is a setting
        (Capacity(base=1, premium_buffer=0, emergency_buffer=0), True, 20, (0, 0, 1)),
    ],
)
def test_limits_with_and_without_delay(
    capacity: Capacity, delayed: bool, pct: int, expected: tuple[int, int, int]
) -> None:
    limits = domain.tier_limits(capacity, delayed, pct)
    assert (limits[Tier.STANDARD], limits[Tier.PREMIUM], limits[Tier.CRITICAL]) == expected


@pytest.mark.parametrize("base", range(1, domain.MAX_PLACES + 1))
def test_delay_reduction_is_exact_integer_floor(base: int) -> None:
    # floor(base * 0.8) computed in floats goes wrong for some bases; the rule must not.
    capacity = Capacity(base=base, premium_buffer=0, emergency_buffer=0)
    assert domain.tier_limits(capacity, True, 20)[Tier.STANDARD] == (base * 8) // 10


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("baseCapacity", {"base": 0}),
        ("premiumBuffer", {"premium_buffer": -1}),
        ("emergencyBuffer", {"emergency_buffer": 1001}),
    ],
)
def test_capacity_out_of_range_names_the_field(field: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Capacity(**kwargs)
    assert [d["field"] for d in caught.value.details] == [field]


def test_standard_stops_at_base_premium_stretches_critical_overflows() -> None:
    slot, _ = fill(make_slot(), [Source.ONLINE] * 10)
    with pytest.raises(SlotFull) as full:
        domain.book(slot, "slot-1.x", "late", Source.WALKIN, BEFORE, 20)
    assert full.value.details == [{"tier": "STANDARD", "limit": 10, "booked": 10}]

    slot, _ = fill(slot, [Source.PAID, Source.FOLLOWUP])
    assert slot.booked == 12
    with pytest.raises(SlotFull):
        domain.book(slot, "slot-1.y", "paid-late", Source.PAID, BEFORE, 20)

    slot, made = fill(slot, [Source.EMERGENCY] * 3)
    assert slot.booked == 15 and [b.token for b in made] == [13, 14, 15]
    with pytest.raises(SlotFull) as critical:
        domain.book(slot, "slot-1.z", "trauma", Source.EMERGENCY, BEFORE, 20)
    assert critical.value.details == [{"tier": "CRITICAL", "limit": 15, "booked": 15}]


def test_availability_per_tier_never_negative() -> None:
    slot, _ = fill(make_slot(), [Source.EMERGENCY] * 13)
    assert slot.available(20) == {Tier.STANDARD: 0, Tier.PREMIUM: 0, Tier.CRITICAL: 2}
    assert make_slot().available(20) == {Tier.STANDARD: 10, Tier.PREMIUM: 12, Tier.CRITICAL: 15}


def test_delay_never_bumps_existing_bookings_but_blocks_new_standard() -> None:
    slot, _ = fill(make_slot(), [Source.ONLINE] * 9)
    delayed = domain.set_delay(slot, True, 30)
    assert delayed.booked == 9 and delayed.delay_minutes == 30
    assert delayed.available(20) == {Tier.STANDARD: 0, Tier.PREMIUM: 1, Tier.CRITICAL: 6}
    with pytest.raises(SlotFull):
        domain.book(delayed, "slot-1.n", "new", Source.ONLINE, BEFORE, 20)
    domain.book(delayed, "slot-1.p", "paid", Source.PAID, BEFORE, 20)


def test_clearing_a_delay_restores_limits_and_zeroes_minutes() -> None:
    cleared = domain.set_delay(domain.set_delay(make_slot(), True, 45), False, 45)
    assert (cleared.delayed, cleared.delay_minutes) == (False, 0)
    assert cleared.limits(20)[Tier.STANDARD] == 10


def test_delay_minutes_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        domain.set_delay(make_slot(), True, -5)


def test_tokens_start_at_one_and_are_never_reused_after_cancel() -> None:
    slot, made = fill(make_slot(), [Source.ONLINE] * 3)
    slot, _ = domain.transition(slot, made[2], Status.CANCELLED, BEFORE)
    slot, again = domain.book(slot, "slot-1.again", "p-new", Source.ONLINE, BEFORE, 20)
    assert [b.token for b in made] == [1, 2, 3] and again.token == 4


def test_cancel_and_no_show_free_capacity_at_once() -> None:
    slot, made = fill(make_slot(), [Source.ONLINE] * 10)
    with pytest.raises(SlotFull):
        domain.book(slot, "slot-1.w", "walkin", Source.WALKIN, BEFORE, 20)
    slot, _ = domain.transition(slot, made[0], Status.CANCELLED, BEFORE)
    slot, _ = domain.book(slot, "slot-1.w", "walkin", Source.WALKIN, BEFORE, 20)
    slot, _ = domain.transition(slot, made[1], Status.NO_SHOW, BEFORE)
    assert slot.booked == 9


def test_checked_in_and_completed_keep_their_place() -> None:
    # Capacity counts consultations: finishing one early does not open the slot to more patients.
    slot, made = fill(make_slot(), [Source.ONLINE])
    slot, checked_in = domain.transition(slot, made[0], Status.CHECKED_IN, BEFORE)
    assert slot.booked == 1
    slot, _ = domain.transition(slot, checked_in, Status.COMPLETED, BEFORE)
    assert slot.booked == 1


ALLOWED = {
    (Status.BOOKED, Status.CHECKED_IN),
    (Status.BOOKED, Status.CANCELLED),
    (Status.BOOKED, Status.NO_SHOW),
    (Status.CHECKED_IN, Status.COMPLETED),
    (Status.CHECKED_IN, Status.CANCELLED),  # v3: the patient left
    (Status.CALLED, Status.COMPLETED),
    (Status.WAITLISTED, Status.CANCELLED),
}


@pytest.mark.parametrize(("start", "to"), list(itertools.product(Status, Status)))
def test_every_transition_is_allowed_or_refused(start: Status, to: Status) -> None:
    slot, made = fill(make_slot(), [Source.ONLINE])
    booking = replace(made[0], status=start)
    slot = slot.with_booking(booking)
    later = BEFORE + timedelta(minutes=1)
    if (start, to) in ALLOWED:
        moved_slot, moved = domain.transition(slot, booking, to, later)
        assert moved.status is to and moved.updated_at == later and moved.token == booking.token
        assert moved_slot.booking(booking.booking_id) == moved
    else:
        with pytest.raises(InvalidTransition):
            domain.transition(slot, booking, to, later)


def test_one_active_booking_per_patient_per_slot() -> None:
    slot, made = fill(make_slot(), [Source.ONLINE])
    with pytest.raises(DuplicateBooking):
        domain.book(slot, "slot-1.dup", "p1", Source.PAID, BEFORE, 20)
    slot, _ = domain.transition(slot, made[0], Status.CANCELLED, BEFORE)
    slot, rebooked = domain.book(slot, "slot-1.re", "p1", Source.ONLINE, BEFORE, 20)
    assert rebooked.token == 2


def test_booking_refused_once_the_slot_has_ended_but_allowed_after_start() -> None:
    domain.book(make_slot(), "slot-1.a", "p", Source.WALKIN, START + timedelta(minutes=30), 20)
    with pytest.raises(SlotClosed):
        domain.book(make_slot(), "slot-1.b", "p", Source.WALKIN, END, 20)


def test_patient_id_must_match_the_id_pattern() -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.book(make_slot(), "slot-1.a", "bad id!", Source.ONLINE, BEFORE, 20)
    assert caught.value.details[0]["field"] == "patientId"


def test_call_order_critical_first_then_by_token_active_only() -> None:
    sources = [Source.ONLINE, Source.EMERGENCY, Source.PAID, Source.WALKIN, Source.EMERGENCY]
    slot, made = fill(make_slot(), sources)
    slot, _ = domain.transition(slot, made[3], Status.CANCELLED, BEFORE)
    slot, _ = domain.transition(slot, made[0], Status.CHECKED_IN, BEFORE)
    assert [b.token for b in domain.call_order(slot.bookings)] == [2, 5, 1, 3]


def test_no_shows_marked_only_after_grace_and_checked_in_untouched() -> None:
    slot, made = fill(make_slot(), [Source.ONLINE, Source.PAID, Source.WALKIN])
    slot, _ = domain.transition(slot, made[1], Status.CHECKED_IN, BEFORE)
    just_before = START + timedelta(minutes=15) - timedelta(seconds=1)
    unchanged, marked = domain.mark_no_shows(slot, just_before, 15)
    assert marked == [] and unchanged == slot

    at_grace = START + timedelta(minutes=15)
    swept, marked = domain.mark_no_shows(slot, at_grace, 15)
    assert [b.token for b in marked] == [1, 3]
    assert {b.token: b.status for b in swept.bookings} == {1: Status.NO_SHOW, 2: Status.CHECKED_IN, 3: Status.NO_SHOW}
    assert swept.booked == 1 and not swept.awaiting_arrival
    assert domain.mark_no_shows(swept, at_grace, 15)[1] == []


def test_new_slot_validation() -> None:
    now = START - timedelta(days=1)
    with pytest.raises(ValidationFailed, match="end"):
        domain.new_slot("s", "dr-1", START, START, Capacity(), now)
    with pytest.raises(ValidationFailed, match="already passed"):
        domain.new_slot("s", "dr-1", START, END, Capacity(), END + timedelta(seconds=1))
    with pytest.raises(ValidationFailed, match="offset"):
        domain.new_slot("s", "dr-1", START.replace(tzinfo=None), END, Capacity(), now)
    with pytest.raises(ValidationFailed, match="doctorId"):
        domain.new_slot("s", "dr 1", START, END, Capacity(), now)
    ist = timezone(timedelta(hours=5, minutes=30))
    slot = domain.new_slot("s", "dr-1", START.astimezone(ist), END.astimezone(ist), Capacity(), now)
    assert slot.start == START


@pytest.mark.parametrize(
    ("booking_id", "slot_id"),
    [("slot-ab.cd12", "slot-ab"), ("a.b.c", "a.b"), ("nodot", None), (".x", None), ("slot.", None)],
)
def test_booking_id_names_its_slot(booking_id: str, slot_id: str | None) -> None:
    assert domain.slot_id_of_booking(booking_id) == slot_id


# -- Idempotency-Key ----------------------------------------------------------------------------


def test_a_booking_made_with_a_key_is_found_by_it_and_another_body_is_a_conflict() -> None:
    slot, booking = domain.book(make_slot(), "slot-1.a", "p1", Source.ONLINE, BEFORE, 20, KEYED)
    slot, plain = domain.book(slot, "slot-1.b", "p2", Source.ONLINE, BEFORE, 20)
    assert (booking.idempotency_key, booking.request_hash) == ("key-1", "body-1")
    assert (plain.idempotency_key, plain.request_hash) == (None, None)
    assert slot.booking_for_key("key-1", "body-1") == booking
    assert slot.booking_for_key("key-2", "body-1") is None
    with pytest.raises(IdempotencyConflict):
        slot.booking_for_key("key-1", "body-2")


def test_a_repeat_is_answered_with_the_booking_as_it_was_created() -> None:
    slot, booking = domain.book(make_slot(), "slot-1.a", "p1", Source.ONLINE, BEFORE, 20, KEYED)
    _, cancelled = domain.transition(slot, booking, Status.CANCELLED, BEFORE + timedelta(minutes=5))
    assert cancelled != booking and cancelled.as_created() == booking


# -- bounded slot documents ---------------------------------------------------------------------


def test_a_patient_may_cancel_and_rebook_a_slot_three_times_then_it_is_a_duplicate() -> None:
    slot = make_slot()
    for n in range(1 + domain.MAX_REBOOKINGS):  # the first booking and three rebookings
        slot, booking = domain.book(slot, f"slot-1.b{n}", "p1", Source.ONLINE, BEFORE, 20)
        slot, _ = domain.transition(slot, booking, Status.CANCELLED if n % 2 else Status.NO_SHOW, BEFORE)
    with pytest.raises(DuplicateBooking, match="rebooked") as refused:
        domain.book(slot, "slot-1.b4", "p1", Source.PAID, BEFORE, 20)
    assert refused.value.details == [{"patientId": "p1", "bookings": 4, "maxRebookings": 3}]
    assert slot.booked == 0 and slot.available(20)[Tier.STANDARD] == 10  # the place is there, not for p1
    domain.book(slot, "slot-1.other", "p2", Source.ONLINE, BEFORE, 20)


def test_a_slot_holds_at_most_ten_bookings_per_place_in_any_state() -> None:
    slot = make_slot(capacity=Capacity(base=1, premium_buffer=1, emergency_buffer=0))  # 2 places: 20 bookings
    for n in range(20):
        slot, booking = domain.book(slot, f"slot-1.b{n}", f"p{n}", Source.ONLINE, BEFORE, 20)
        if n < 19:
            slot, _ = domain.transition(slot, booking, Status.CANCELLED, BEFORE)
    assert (len(slot.bookings), slot.booked) == (20, 1)  # a PREMIUM place is free
    with pytest.raises(SlotFull, match="maximum of 20 bookings") as refused:
        domain.book(slot, "slot-1.b20", "p20", Source.PAID, BEFORE, 20)
    assert refused.value.details == [{"tier": "PREMIUM", "limit": 2, "booked": 1, "bookings": 20}]


@pytest.mark.parametrize(("base", "premium", "emergency"), [(20, 5, 6), (1, 0, 30), (30, 1, 0)])
def test_a_slot_has_at_most_thirty_places(base: int, premium: int, emergency: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Capacity(base, premium, emergency)
    assert [d["field"] for d in caught.value.details] == ["baseCapacity", "premiumBuffer", "emergencyBuffer"]
    assert all("must be at most 30" in d["message"] for d in caught.value.details)
    assert Capacity(20, 5, 5).places == domain.MAX_PLACES


def test_the_stored_document_stays_under_256_kib_whatever_clients_do() -> None:
    """The largest slot, driven by a client doing its worst: every patient id 64 characters, every
    booking made with an Idempotency-Key, patients cancelling and rebooking until refused."""
    slot = make_slot(capacity=Capacity(base=domain.MAX_PLACES - 10, premium_buffer=5, emergency_buffer=5))
    key_hash, body_hash = "k" * 32, "h" * 32  # what opd.api.idempotency stores
    patients = [f"{n:04d}".ljust(64, "x") for n in range(10 * domain.MAX_PLACES // 4 + 5)]
    refused = 0
    while refused < len(patients):  # a round in which every patient was refused ends it
        refused = 0
        for patient in patients:
            try:
                booking_id = f"slot-{'a' * 24}.{slot.next_token:016x}"  # as service.new_booking_id makes them
                slot, booking = domain.book(
                    slot,
                    booking_id,
                    patient,
                    Source.EMERGENCY,
                    BEFORE,
                    20,
                    BookingOptions(patient, idempotency_key=key_hash, request_hash=body_hash),
                )
            except (SlotFull, DuplicateBooking):
                refused += 1
                continue
            slot, _ = domain.transition(slot, booking, Status.CANCELLED, BEFORE, by=patient)  # history names them
    assert len(slot.bookings) == 10 * domain.MAX_PLACES
    size = len(bson.encode(store.slot_to_doc(slot)))
    assert size < 256 * 1024, f"{size} bytes"
    assert size > 150 * 1024, f"{size} bytes"  # the worst case really was built
