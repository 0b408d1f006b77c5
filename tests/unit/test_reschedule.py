"""Rescheduling on the in-memory fakes: three writes, one slot each, finished by a repeat or the sweeper.

A request that dies between two writes is played by a store that raises `Crash` (a BaseException,
as nothing in the service may catch it) right after its n-th write; the repeat or the sweep then
runs on the same store, as a new Lambda invocation would on the same database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from opd import domain
from opd.domain import Booking, CancelReason, Capacity, Language, Slot, Source, Status
from opd.errors import (
    DependencyUnavailable,
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    OpdError,
    OutcomeUnknown,
    SlotBusy,
    SlotClosed,
    SlotFull,
    ValidationFailed,
)
from opd.ports import Held, KeyClaim, KeyRecord
from opd.service import Allocator, RequestKey, ReschedulesReport, SweepReport
from opd.settings import Settings
from tests.support.events import RecordingPublisher
from tests.support.handoff import publish_at_once
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)  # the day before: every slot here is still open
ONE_PLACE = Capacity(base=1, premium_buffer=0, emergency_buffer=0)


class Crash(BaseException):
    """The service's process dies here: no handler in it runs."""


class ScriptedStore(FakeSlotStore):
    """Runs `after[n]` right after the service's n-th write (counted from `arm`): a crash, or another
    request getting in between two of the reschedule's writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.after: dict[int, Callable[[], object]] = {}
        self.reads: dict[str, int] = {}
        self.before_read: dict[tuple[str, int], Callable[[], object]] = {}

    def get(self, slot_id: str) -> Slot | None:
        self.reads[slot_id] = self.reads.get(slot_id, 0) + 1
        if (then := self.before_read.pop((slot_id, self.reads[slot_id]), None)) is not None:
            then()
        return super().get(slot_id)

    def arm(self, **after: Callable[[], object]) -> None:
        """`after_1=...`: what happens after the first write from now on."""
        self.writes = 0
        self.after = {int(name.removeprefix("after_")): then for name, then in after.items()}

    def arm_read(self, slot_id: str, nth: int, then: Callable[[], object]) -> None:
        """What happens just before the `nth` read of the slot from now on."""
        self.reads[slot_id] = 0
        self.before_read[(slot_id, nth)] = then

    def replace(self, slot: Slot, read_version: int) -> bool:
        written = super().replace(slot, read_version)
        if written:
            self.writes += 1
            if (then := self.after.pop(self.writes, None)) is not None:
                then()
        return written

    def sneak(self, slot_id: str, change: Callable[[Slot], Slot]) -> None:
        """Another request's write, not counted as the service's."""
        slot = self.slots[slot_id]
        assert FakeSlotStore.replace(self, change(slot), slot.version)


def crash() -> None:
    raise Crash


type Moving = Allocator[ScriptedStore, FakeSlotLock]


@pytest.fixture
def store() -> ScriptedStore:
    return ScriptedStore()


@pytest.fixture
def lock() -> FakeSlotLock:
    return FakeSlotLock()


@pytest.fixture
def allocator(store: ScriptedStore, lock: FakeSlotLock) -> Moving:
    return Allocator(store, lock, Settings(), clock=lambda: NOW)


@pytest.fixture
def slots(allocator: Moving) -> tuple[str, str, str]:
    """The old slot (one place), a target with room, and another target."""
    made = [
        allocator.create_slot("dr-rao", START, START + HOUR, ONE_PLACE),
        allocator.create_slot("dr-rao", START + HOUR, START + 2 * HOUR),
        allocator.create_slot("dr-sen", START + 2 * HOUR, START + 3 * HOUR),
    ]
    return made[0].slot_id, made[1].slot_id, made[2].slot_id


@pytest.fixture
def asha(allocator: Moving, slots: tuple[str, str, str]) -> Booking:
    return allocator.book(slots[0], "asha", Source.PAID, by="asha")


def places_of(allocator: Moving, patient: str) -> list[str]:
    """Every booking of the patient that holds a place, in any slot."""
    return sorted(
        b.booking_id
        for s in allocator.store.slots.values()
        for b in s.bookings
        if b.patient_id == patient and b.holds_place
    )


def in_slot(allocator: Moving, slot_id: str, patient: str) -> list[Booking]:
    return [b for b in allocator.get_slot(slot_id).bookings if b.patient_id == patient]


def take_last_place(patient: str) -> Callable[[Slot], Slot]:
    def book(slot: Slot) -> Slot:
        return domain.book(slot, f"{slot.slot_id}.{patient}", patient, Source.WALKIN, NOW, 20)[0]

    return book


def cancel_first(slot: Slot) -> Slot:
    return domain.transition(slot, slot.bookings[0], Status.CANCELLED, NOW)[0]


def nothing_pending(allocator: Moving) -> bool:
    return list(allocator.store.slots_with_reschedules(100)) == []


# -- the request ------------------------------------------------------------------------------


def test_a_reschedule_books_the_target_cancels_the_old_booking_and_frees_its_place(
    allocator: Moving, lock: FakeSlotLock, slots: tuple[str, str, str], asha: Booking
) -> None:
    old_slot, target, _ = slots
    waiting = allocator.book(old_slot, "bala", Source.ONLINE, waitlist=True)
    before = {s: allocator.get_slot(s).version for s in slots}

    moved = allocator.reschedule(asha.booking_id, target, by="desk")

    assert moved.booking_id.startswith(f"{target}.") and moved.slot_id == target
    assert (moved.patient_id, moved.source, moved.status, moved.token) == ("asha", Source.PAID, Status.BOOKED, 1)
    assert (moved.rescheduled_from, moved.rescheduled_to) == (asha.booking_id, None)
    assert moved.history == (domain.Change(Status.BOOKED, NOW, "desk"),)
    assert moved.standing is not None and moved.standing.position == 0
    assert allocator.get_booking(moved.booking_id) == moved
    old = allocator.get_booking(asha.booking_id)
    assert (old.status, old.cancel_reason, old.rescheduled_to) == (
        Status.CANCELLED,
        CancelReason.RESCHEDULED,
        moved.booking_id,
    )
    assert old.history[-1] == domain.Change(Status.CANCELLED, NOW, "desk")
    assert allocator.get_booking(waiting.booking_id).status is Status.BOOKED  # the freed place, in the same write
    assert places_of(allocator, "asha") == [moved.booking_id]
    after = {s: allocator.get_slot(s).version for s in slots}
    assert [after[s] - before[s] for s in slots] == [2, 1, 0]  # mark and cancel; the new booking
    assert nothing_pending(allocator) and lock.owners == {}


def test_a_full_target_is_refused_before_anything_is_written(
    allocator: Moving, store: ScriptedStore, lock: FakeSlotLock, asha: Booking
) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    allocator.book(target, "bala", Source.FOLLOWUP)
    before, lock.taken = dict(store.slots), []
    with pytest.raises(SlotFull) as refused:
        allocator.reschedule(asha.booking_id, target)
    assert refused.value.details == [{"tier": "PREMIUM", "limit": 1, "booked": 1}]
    assert store.slots == before and lock.taken == []


def test_a_target_that_fills_after_the_mark_refuses_and_the_old_booking_is_as_it_was(
    allocator: Moving, store: ScriptedStore, asha: Booking
) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    version = allocator.get_slot(asha.slot_id).version
    # Between the check (room) and write 2, another request takes the target's last place.
    store.arm(after_1=lambda: store.sneak(target, take_last_place("bala")))
    with pytest.raises(SlotFull):
        allocator.reschedule(asha.booking_id, target)
    assert allocator.get_booking(asha.booking_id) == asha  # marked and the mark cleared: as it was
    assert allocator.get_slot(asha.slot_id).version == version + 2
    refused = allocator.get_slot(target).refused_reschedules
    assert [r.code for r in refused] == ["SLOT_FULL"]
    assert in_slot(allocator, target, "asha") == [] and places_of(allocator, "asha") == [asha.booking_id]
    assert nothing_pending(allocator)


def test_the_same_slot_is_a_validation_error(allocator: Moving, store: ScriptedStore, asha: Booking) -> None:
    before = dict(store.slots)
    with pytest.raises(ValidationFailed) as refused:
        allocator.reschedule(asha.booking_id, asha.slot_id)
    assert [d["field"] for d in refused.value.details] == ["slotId"]
    with pytest.raises(ValidationFailed):
        allocator.reschedule(asha.booking_id, "not a slot id")
    assert store.slots == before


@pytest.mark.parametrize("state", [Status.CHECKED_IN, Status.CANCELLED, Status.WAITLISTED])
def test_only_a_booked_booking_can_be_rescheduled(
    allocator: Moving, store: ScriptedStore, lock: FakeSlotLock, slots: tuple[str, str, str], state: Status
) -> None:
    old_slot, target, _ = slots
    if state is Status.WAITLISTED:
        allocator.book(old_slot, "bala", Source.ONLINE)
        booking = allocator.book(old_slot, "asha", Source.ONLINE, waitlist=True)
    else:
        booking = allocator.book(old_slot, "asha", Source.ONLINE)
        if state is Status.CHECKED_IN:
            allocator.check_in(booking.booking_id)
        else:
            allocator.cancel(booking.booking_id)
    before, lock.taken = dict(store.slots), []
    with pytest.raises(InvalidTransition) as refused:
        allocator.reschedule(booking.booking_id, target)
    assert refused.value.details == [{"from": state.value, "to": "CANCELLED"}]
    assert store.slots == before and lock.taken == []


def test_unknown_bookings_and_targets_are_not_found(allocator: Moving, asha: Booking) -> None:
    for booking_id in ("no-slot-part", "slot-gone.b1", f"{asha.slot_id}.nobody"):
        with pytest.raises(NotFound) as missing:
            allocator.reschedule(booking_id, "slot-elsewhere")
        assert missing.value.message == f"no booking {booking_id}"
    with pytest.raises(NotFound) as missing:
        allocator.reschedule(asha.booking_id, "slot-nowhere")
    assert missing.value.message == "no slot slot-nowhere"
    assert allocator.get_booking(asha.booking_id) == asha


def test_a_repeat_after_the_move_returns_the_same_new_booking_and_writes_nothing(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking
) -> None:
    moved = allocator.reschedule(asha.booking_id, slots[1], by="asha")
    allocator.check_in(moved.booking_id, by="desk")
    before = dict(store.slots)
    again = allocator.reschedule(asha.booking_id, slots[1], by="asha")
    assert again == moved  # as first answered (BOOKED), though it is CHECKED_IN by now
    assert (again.booking_id, again.token, again.status) == (moved.booking_id, 1, Status.BOOKED)
    assert store.slots == before
    with pytest.raises(InvalidTransition):  # moved already, so not BOOKED: another target is refused
        allocator.reschedule(asha.booking_id, slots[2])


def test_a_repeat_naming_another_target_while_the_move_is_pending_is_refused(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking
) -> None:
    _, target, other = slots
    store.arm(after_1=crash)
    with pytest.raises(Crash):
        allocator.reschedule(asha.booking_id, target)
    before = dict(store.slots)
    with pytest.raises(InvalidTransition) as refused:
        allocator.reschedule(asha.booking_id, other)
    assert refused.value.message.startswith(f"booking {asha.booking_id} is already being rescheduled to slot {target}:")
    assert "repeat that reschedule request to finish it" in refused.value.message
    assert store.slots == before
    assert allocator.reschedule(asha.booking_id, target).slot_id == target


# -- a request that died between two writes ------------------------------------------------------


@pytest.mark.parametrize("died_after", [1, 2, 3])
@pytest.mark.parametrize("then", ["repeat", "sweep"])
def test_a_request_that_died_between_writes_is_finished_by_its_repeat_or_the_sweep(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking, died_after: int, then: str
) -> None:
    _, target, _ = slots
    store.arm(**{f"after_{died_after}": crash})
    with pytest.raises(Crash):
        allocator.reschedule(asha.booking_id, target, by="asha")
    new_id = allocator.get_booking(asha.booking_id).rescheduled_to
    assert new_id is not None and new_id.startswith(f"{target}.")
    assert len(in_slot(allocator, target, "asha")) == (0 if died_after == 1 else 1)

    if then == "sweep":
        report = allocator.sweep_no_shows(now=NOW)
        assert report == SweepReport(0, 0, 0, finished=True, reschedules_finished=1 if died_after < 3 else 0)
        by = domain.SYSTEM if died_after < 3 else "asha"
    else:
        by = "asha"
    moved = allocator.reschedule(asha.booking_id, target, by="asha")  # after the sweep too: the same booking

    assert moved.booking_id == new_id and moved.status is Status.BOOKED
    assert places_of(allocator, "asha") == [new_id]
    assert [b.booking_id for b in in_slot(allocator, target, "asha")] == [new_id]
    old = allocator.get_booking(asha.booking_id)
    assert (old.status, old.cancel_reason, old.history[-1].by) == (Status.CANCELLED, CancelReason.RESCHEDULED, by)
    assert nothing_pending(allocator)


@pytest.mark.parametrize("after_write", [1, 2])
def test_a_duplicate_arriving_between_the_first_requests_writes_gets_the_same_booking(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking, after_write: int
) -> None:
    _, target, _ = slots
    duplicate: list[Booking | SlotBusy] = []

    def the_duplicate() -> None:
        try:
            duplicate.append(allocator.reschedule(asha.booking_id, target))
        except SlotBusy as busy:  # the first still holds the old slot's lock (the fake lock waits for nobody)
            duplicate.append(busy)

    store.arm(**{f"after_{after_write}": the_duplicate})
    first = allocator.reschedule(asha.booking_id, target)  # after 1: its write 2 loses, and finds the duplicate's
    again = duplicate[0] if isinstance(duplicate[0], Booking) else allocator.reschedule(asha.booking_id, target)
    assert isinstance(duplicate[0], SlotBusy if after_write == 1 else Booking)
    assert again == first and places_of(allocator, "asha") == [first.booking_id]
    assert [b.booking_id for b in in_slot(allocator, target, "asha")] == [first.booking_id]


# -- the target refuses after the mark: the refusal is recorded, then the mark cleared ------------


def test_a_repeat_between_the_recorded_refusal_and_the_clearing_is_refused_too(
    allocator: Moving, store: ScriptedStore, asha: Booking
) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    repeats: list[OpdError] = []

    def place_frees_and_the_client_repeats() -> None:
        store.sneak(target, cancel_first)  # the target has room again, and the mark is still there
        with pytest.raises(SlotFull) as refused:
            allocator.reschedule(asha.booking_id, target)
        repeats.append(refused.value)

    # write 1 the mark; another request fills the target; write 2 is the refusal, recorded.
    store.arm(after_1=lambda: store.sneak(target, take_last_place("bala")), after_2=place_frees_and_the_client_repeats)
    with pytest.raises(SlotFull):
        allocator.reschedule(asha.booking_id, target)
    assert [r.code for r in repeats] == ["SLOT_FULL"]
    assert allocator.get_booking(asha.booking_id) == asha
    assert in_slot(allocator, target, "asha") == [] and nothing_pending(allocator)
    assert allocator.reschedule(asha.booking_id, target).slot_id == target  # a new attempt may: there is room


def test_a_refusal_is_not_recorded_over_a_booking_made_meanwhile(
    allocator: Moving, store: ScriptedStore, asha: Booking
) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    swept: list[ReschedulesReport] = []

    def place_frees_and_the_sweeper_moves_asha() -> None:
        store.sneak(target, cancel_first)
        swept.append(allocator.finish_reschedules(now=NOW))

    # The request reads the target: 1 to check it; 2 after its write 2 lost to bala's booking, and
    # is refused; 3 to record that refusal. Before 3, the place frees and a sweep makes the move.
    store.arm(after_1=lambda: store.sneak(target, take_last_place("bala")))
    store.arm_read(target, 3, place_frees_and_the_sweeper_moves_asha)
    moved = allocator.reschedule(asha.booking_id, target)
    assert swept == [ReschedulesReport(finished=1, abandoned=0, busy=0, complete=True)]
    assert moved.slot_id == target and places_of(allocator, "asha") == [moved.booking_id]
    assert allocator.get_slot(target).refused_reschedules == ()


class StaleStore(ScriptedStore):
    """Answers the next read of a slot with a copy kept earlier: a request that read it long ago."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: dict[str, Slot] = {}

    def get(self, slot_id: str) -> Slot | None:
        return self.stale.pop(slot_id, None) or super().get(slot_id)


def test_an_attempt_that_read_the_mark_before_it_was_cleared_cannot_book_afterwards() -> None:
    store, lock = StaleStore(), FakeSlotLock()
    allocator: Allocator[StaleStore, FakeSlotLock] = Allocator(store, lock, Settings(), clock=lambda: NOW)
    old_slot = allocator.create_slot("dr-rao", START, START + HOUR).slot_id
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    asha = allocator.book(old_slot, "asha", Source.ONLINE)

    marked: dict[str, Slot] = {}

    def keep_the_marked_slot_and_fill_the_target() -> None:
        marked[old_slot] = store.slots[old_slot]
        store.sneak(target, take_last_place("bala"))

    store.arm(after_1=keep_the_marked_slot_and_fill_the_target)
    with pytest.raises(SlotFull):
        allocator.reschedule(asha.booking_id, target)  # marked, refused, recorded, cleared
    assert not allocator.get_booking(asha.booking_id).rescheduling
    store.sneak(target, cancel_first)
    # A repeat that read the old slot while it was marked, and reads the target now that it has room.
    store.stale.update(marked)
    with pytest.raises(SlotFull):
        allocator.reschedule(asha.booking_id, target)
    assert [b.status for b in allocator.get_slot(target).bookings] == [Status.CANCELLED]
    assert allocator.get_booking(asha.booking_id) == asha


@pytest.mark.parametrize("read_early", [["old"], ["old", "target"]])
def test_a_request_that_read_before_its_duplicate_moved_the_booking_answers_the_duplicates_booking(
    read_early: list[str],
) -> None:
    store, lock = StaleStore(), FakeSlotLock()
    allocator: Allocator[StaleStore, FakeSlotLock] = Allocator(store, lock, Settings(), clock=lambda: NOW)
    slot_ids = {
        "old": allocator.create_slot("dr-rao", START, START + HOUR).slot_id,
        "target": allocator.create_slot("dr-sen", START, START + HOUR).slot_id,
    }
    asha = allocator.book(slot_ids["old"], "asha", Source.ONLINE)
    early = {slot_ids[name]: store.slots[slot_ids[name]] for name in read_early}
    duplicate = allocator.reschedule(asha.booking_id, slot_ids["target"])
    # The request read these slots before the duplicate's writes: the target, so that only its own
    # write 1 finds the move done; or not, so that it finds the duplicate's booking there first.
    store.stale.update(early)
    assert allocator.reschedule(asha.booking_id, slot_ids["target"]) == duplicate
    theirs = [
        b.booking_id for s in store.slots.values() for b in s.bookings if b.patient_id == "asha" and b.holds_place
    ]
    assert theirs == [duplicate.booking_id]


def test_a_target_slot_that_is_gone_abandons_the_move(allocator: Moving, store: ScriptedStore, asha: Booking) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR).slot_id
    died_after_the_mark(allocator, asha, target)
    del store.slots[target]  # no operation removes a slot; a store restored from an older backup might
    assert allocator.sweep_no_shows(now=NOW) == SweepReport(0, 0, 0, finished=True, reschedules_abandoned=1)
    assert allocator.get_booking(asha.booking_id) == asha


# -- the sweeper finishes what requests left ------------------------------------------------------


def died_after_the_mark(allocator: Moving, booking: Booking, target: str) -> str:
    allocator.store.arm(after_1=crash)
    with pytest.raises(Crash):
        allocator.reschedule(booking.booking_id, target)
    new_id = allocator.get_booking(booking.booking_id).rescheduled_to
    assert new_id is not None
    return new_id


@pytest.mark.parametrize("refusal", ["full", "closed", "ended"])
def test_a_target_that_refuses_at_the_sweep_abandons_the_move_and_the_patient_keeps_the_old_place(
    allocator: Moving, store: ScriptedStore, asha: Booking, refusal: str
) -> None:
    # The target ends before the old slot starts: a sweep after its end is before the old slot's grace.
    target = allocator.create_slot("dr-sen", START - 2 * HOUR, START - HOUR, ONE_PLACE).slot_id
    new_id = died_after_the_mark(allocator, asha, target)
    if refusal == "full":
        store.sneak(target, take_last_place("bala"))
    elif refusal == "closed":
        store.sneak(target, lambda slot: dataclasses.replace(slot, closed=True))
    at = START - timedelta(minutes=30) if refusal == "ended" else NOW

    report = allocator.sweep_no_shows(now=at)

    assert report == SweepReport(0, 0, 0, finished=True, reschedules_abandoned=1)
    assert allocator.get_booking(asha.booking_id) == asha  # BOOKED, its token, no mark
    assert places_of(allocator, "asha") == [asha.booking_id] and in_slot(allocator, target, "asha") == []
    code = {"full": "SLOT_FULL", "closed": "SLOT_CLOSED", "ended": "SLOT_CLOSED"}[refusal]
    assert [(r.booking_id, r.code) for r in allocator.get_slot(target).refused_reschedules] == [(new_id, code)]
    assert nothing_pending(allocator)
    assert allocator.sweep_no_shows(now=at) == SweepReport(0, 0, 0, finished=True)


def test_the_sweep_settles_moves_before_it_marks_no_shows(allocator: Moving, store: ScriptedStore) -> None:
    old_slot = allocator.create_slot("dr-rao", START, START + HOUR).slot_id
    later = allocator.create_slot("dr-sen", START + 5 * HOUR, START + 6 * HOUR).slot_id
    full = allocator.create_slot("dr-sen", START + 6 * HOUR, START + 7 * HOUR, ONE_PLACE).slot_id
    asha = allocator.book(old_slot, "asha", Source.ONLINE)
    bala = allocator.book(old_slot, "bala", Source.ONLINE)
    died_after_the_mark(allocator, asha, later)
    died_after_the_mark(allocator, bala, full)
    store.sneak(full, take_last_place("chitra"))

    report = allocator.sweep_no_shows(now=START + 2 * HOUR)  # past the old slot's grace

    # asha moved, so is no no-show; bala stays, and is one (the move's clearing is no arrival).
    assert report == SweepReport(1, 1, 0, finished=True, reschedules_finished=1, reschedules_abandoned=1)
    assert [b.status for b in allocator.get_slot(old_slot).bookings] == [Status.CANCELLED, Status.NO_SHOW]


def test_a_sweep_leaves_a_move_whose_slot_is_busy_to_the_next_run(
    allocator: Moving, lock: FakeSlotLock, slots: tuple[str, str, str], asha: Booking
) -> None:
    new_id = died_after_the_mark(allocator, asha, slots[1])
    held = lock.acquire(slots[1])
    assert isinstance(held, Held)
    assert allocator.sweep_no_shows(now=NOW) == SweepReport(0, 0, 1, finished=True)
    assert allocator.get_booking(asha.booking_id).rescheduling
    lock.release(slots[1], held.owner)
    assert allocator.sweep_no_shows(now=NOW) == SweepReport(0, 0, 0, finished=True, reschedules_finished=1)
    assert places_of(allocator, "asha") == [new_id]


def test_finishing_moves_stops_before_the_deadline_and_the_next_run_goes_on(allocator: Moving) -> None:
    old_slots = [allocator.create_slot("dr-rao", START + n * HOUR, START + (n + 1) * HOUR) for n in range(3)]
    target = allocator.create_slot("dr-sen", START, START + HOUR).slot_id
    for n, slot in enumerate(old_slots):
        died_after_the_mark(allocator, allocator.book(slot.slot_id, f"p{n}", Source.ONLINE), target)
    left = iter([5.0, 2.0, 1.9])  # asked before each move: the third finds less than the reserve
    report = allocator.sweep_no_shows(now=NOW, time_left=lambda: next(left), reserve_s=2.0)
    assert report == SweepReport(0, 0, 0, finished=False, reschedules_finished=2)
    assert len(list(allocator.store.slots_with_reschedules(100))) == 1
    assert allocator.finish_reschedules(now=NOW) == ReschedulesReport(finished=1, abandoned=0, busy=0, complete=True)
    assert nothing_pending(allocator)


def test_the_fake_store_finds_the_slots_with_moves_as_the_real_query_does(
    allocator: Moving, slots: tuple[str, str, str], asha: Booking
) -> None:
    assert list(allocator.store.slots_with_reschedules(100)) == []
    died_after_the_mark(allocator, asha, slots[1])
    assert list(allocator.store.slots_with_reschedules(100)) == [slots[0]]


# -- Idempotency-Key ------------------------------------------------------------------------------


def test_the_same_key_and_body_return_the_same_new_booking_which_keeps_the_key(
    allocator: Moving, slots: tuple[str, str, str], asha: Booking
) -> None:
    key = RequestKey(key="k1", body="b1")
    moved = allocator.reschedule(asha.booking_id, slots[1], key=key)
    assert moved.idempotency_key == "k1" and moved.request_hash not in (None, "b1")  # the booking id folded in
    assert allocator.reschedule(asha.booking_id, slots[1], key=key) == moved


@pytest.mark.parametrize("other", ["another target", "another body", "another booking"])
def test_the_same_key_with_another_request_is_a_conflict(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking, other: str
) -> None:
    _, target, elsewhere = slots
    bala = allocator.book(elsewhere, "bala", Source.ONLINE)
    moved = allocator.reschedule(asha.booking_id, target, key=RequestKey(key="k1", body="b1"))
    before = dict(store.slots)
    booking_id, slot_id, body = {
        "another target": (asha.booking_id, elsewhere, "b1"),
        "another body": (asha.booking_id, target, "b2"),
        "another booking": (bala.booking_id, target, "b1"),
    }[other]
    with pytest.raises(IdempotencyConflict):
        allocator.reschedule(booking_id, slot_id, key=RequestKey(key="k1", body=body))
    assert store.slots == before
    assert places_of(allocator, "asha") == [moved.booking_id] and places_of(allocator, "bala") == [bala.booking_id]


def test_a_keyed_refusal_is_the_keys_first_answer(allocator: Moving, store: ScriptedStore, asha: Booking) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR, ONE_PLACE).slot_id
    bala = allocator.book(target, "bala", Source.ONLINE)
    key = RequestKey(key="k1", body="b1")
    with pytest.raises(SlotFull):
        allocator.reschedule(asha.booking_id, target, key=key)
    allocator.cancel(bala.booking_id)
    with pytest.raises(SlotFull):  # the first answer, though there is room now
        allocator.reschedule(asha.booking_id, target, key=key)
    assert allocator.reschedule(asha.booking_id, target).slot_id == target  # without the key: a new request


def test_a_closed_target_is_refused_before_anything_is_written(
    allocator: Moving, store: ScriptedStore, asha: Booking
) -> None:
    target = allocator.create_slot("dr-sen", START, START + HOUR).slot_id
    store.sneak(target, lambda slot: dataclasses.replace(slot, closed=True))
    before = dict(store.slots)
    with pytest.raises(SlotClosed):
        allocator.reschedule(asha.booking_id, target)
    assert store.slots == before


# -- Redis or MongoDB away, or a busy slot, once the mark is written: never "nothing was written" --


class AwayStore(ScriptedStore):
    """MongoDB, while `away`: every read and write fails as the real store's do when no server answers."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False

    def get(self, slot_id: str) -> Slot | None:
        if self.away:
            raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")
        return super().get(slot_id)

    def replace(self, slot: Slot, read_version: int) -> bool:
        if self.away:
            raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")
        return super().replace(slot, read_version)


class AwayLock(FakeSlotLock):
    """Redis, while `away`: no lock can be had (releasing is quiet, as the real lock's is)."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False

    def acquire(self, slot_id: str, claim: KeyClaim | None = None) -> Held | KeyRecord:
        if self.away:
            raise DependencyUnavailable("redis", "Redis unreachable: ConnectionError")
        return super().acquire(slot_id, claim)


type Outage = Allocator[AwayStore, AwayLock]


@pytest.fixture
def outage() -> tuple[Outage, Booking, str]:
    """An allocator whose MongoDB or Redis a test can take away; asha's booking, and a target with room."""
    allocator: Outage = Allocator(AwayStore(), AwayLock(), Settings(), clock=lambda: NOW, outcome_wait_s=0.0)
    old_slot = allocator.create_slot("dr-rao", START, START + HOUR).slot_id
    target = allocator.create_slot("dr-sen", START + HOUR, START + 2 * HOUR).slot_id
    return allocator, allocator.book(old_slot, "asha", Source.PAID, by="asha"), target


def the_moves_that_wait_for_the_reschedule(allocator: Moving | Outage, booking: Booking, target: str) -> None:
    """Check-in, cancel and no-show of the booking in between: refused, naming the reschedule and its way out."""
    new_id = allocator.get_booking(booking.booking_id).rescheduled_to
    for move, to in (
        (allocator.check_in, Status.CHECKED_IN),
        (allocator.cancel, Status.CANCELLED),
        (allocator.mark_no_show, Status.NO_SHOW),
    ):
        with pytest.raises(InvalidTransition) as refused:
            move(booking.booking_id)
        assert refused.value.details == [{"from": "BOOKED", "to": to.value, "rescheduledTo": new_id}]
        message = refused.value.message
        assert message.startswith(f"booking {booking.booking_id} is being rescheduled to slot {target} and cannot ")
        assert "repeat the reschedule request to finish it, or wait for the sweeper" in message, message


def test_check_in_cancel_and_no_show_of_a_booking_being_rescheduled_name_the_reschedule(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking
) -> None:
    _, target, _ = slots
    new_id = died_after_the_mark(allocator, asha, target)
    before = dict(store.slots)
    the_moves_that_wait_for_the_reschedule(allocator, asha, target)
    with pytest.raises(InvalidTransition) as refused:  # a move it could not make anyway says just that
        allocator.complete(asha.booking_id)
    assert refused.value.details == [{"from": "BOOKED", "to": "COMPLETED"}]
    assert store.slots == before
    assert allocator.reschedule(asha.booking_id, target).booking_id == new_id  # the way out it names


@pytest.mark.parametrize("dependency", ["redis", "mongo"])
def test_a_dependency_lost_after_the_mark_is_an_unknown_outcome_that_the_repeat_finishes(
    outage: tuple[Outage, Booking, str], dependency: str
) -> None:
    allocator, asha, target = outage
    store, lock = allocator.store, allocator.lock
    store.arm(after_1=lambda: setattr(store if dependency == "mongo" else lock, "away", True))

    with pytest.raises(DependencyUnavailable) as caught:
        allocator.reschedule(asha.booking_id, target, by="asha")
    store.away = False  # back for the reads below (Redis stays away: a refusal needs no lock)

    new_id = allocator.get_booking(asha.booking_id).rescheduled_to
    assert new_id is not None and new_id.startswith(f"{target}.")
    unknown = caught.value
    assert isinstance(unknown, OutcomeUnknown), unknown.message  # 503, and never "nothing was written"
    assert unknown.details == [
        {"dependency": dependency, "outcome": "UNKNOWN", "bookingId": asha.booking_id, "rescheduledTo": new_id}
    ]
    assert "outcome is not known yet: repeat the same request to finish it" in unknown.message
    the_moves_that_wait_for_the_reschedule(allocator, asha, target)

    lock.away = False
    moved = allocator.reschedule(asha.booking_id, target, by="asha")
    assert (moved.booking_id, moved.status, moved.rescheduled_from) == (new_id, Status.BOOKED, asha.booking_id)
    old = allocator.get_booking(asha.booking_id)
    assert (old.status, old.cancel_reason) == (Status.CANCELLED, CancelReason.RESCHEDULED)
    assert list(store.slots_with_reschedules(100)) == []


@pytest.mark.parametrize("dependency", ["redis", "mongo"])
def test_a_dependency_lost_on_the_repeat_of_a_marked_reschedule_is_an_unknown_outcome_too(
    outage: tuple[Outage, Booking, str], dependency: str
) -> None:
    allocator, asha, target = outage
    store, lock = allocator.store, allocator.lock
    store.arm(after_1=crash)
    with pytest.raises(Crash):
        allocator.reschedule(asha.booking_id, target)
    # The repeat finds the mark and reads the target: then the dependency goes away.
    store.arm_read(target, 1, lambda: setattr(store if dependency == "mongo" else lock, "away", True))
    with pytest.raises(OutcomeUnknown) as caught:
        allocator.reschedule(asha.booking_id, target)
    assert caught.value.details[0]["outcome"] == "UNKNOWN"
    store.away = lock.away = False
    assert allocator.reschedule(asha.booking_id, target).slot_id == target


@pytest.mark.parametrize("dependency", ["redis", "mongo"])
def test_a_dependency_away_before_the_mark_still_says_nothing_was_written(
    outage: tuple[Outage, Booking, str], dependency: str
) -> None:
    allocator, asha, target = outage
    store, lock = allocator.store, allocator.lock
    before = dict(store.slots)
    # MongoDB: the target is read, then gone for write 1; Redis: gone before write 1's lock.
    store.arm_read(target, 1, lambda: setattr(store if dependency == "mongo" else lock, "away", True))
    with pytest.raises(DependencyUnavailable) as caught:
        allocator.reschedule(asha.booking_id, target)
    assert type(caught.value) is DependencyUnavailable and caught.value.details == [{"dependency": dependency}]
    assert store.slots == before


def test_a_busy_slot_after_the_mark_is_429_saying_the_reschedule_is_under_way(
    allocator: Moving, store: ScriptedStore, lock: FakeSlotLock, slots: tuple[str, str, str], asha: Booking
) -> None:
    _, target, _ = slots
    held: list[Held | KeyRecord] = []
    store.arm(after_1=lambda: held.append(lock.acquire(target)))  # another request holds the target

    with pytest.raises(SlotBusy) as caught:
        allocator.reschedule(asha.booking_id, target)

    new_id = allocator.get_booking(asha.booking_id).rescheduled_to
    busy = caught.value
    assert busy.details == [{"outcome": "UNKNOWN", "bookingId": asha.booking_id, "rescheduledTo": new_id}]
    assert f"booking {asha.booking_id} is being rescheduled to slot {target}; the reschedule is under way" in (
        busy.message
    )
    assert "repeat the same request to finish it" in busy.message and busy.retry_after_seconds == 1
    assert isinstance(held[0], Held)
    lock.release(target, held[0].owner)
    assert allocator.reschedule(asha.booking_id, target).booking_id == new_id
    assert places_of(allocator, "asha") == [new_id]


def test_a_new_booking_cancelled_and_archived_before_the_move_finished_is_not_made_again(
    allocator: Moving, store: ScriptedStore, slots: tuple[str, str, str], asha: Booking
) -> None:
    _, target, _ = slots
    store.arm(after_2=crash)  # died after write 2: the new booking is made, the old one still marked
    with pytest.raises(Crash):
        allocator.reschedule(asha.booking_id, target, by="asha")
    new_id = allocator.get_booking(asha.booking_id).rescheduled_to
    assert new_id is not None
    # Events delivered (finished bookings leave only then): a bus, and the relay for what waited.
    live = publish_at_once(
        Allocator(store, allocator.lock, Settings(), clock=lambda: NOW, publisher=RecordingPublisher())
    )
    live.cancel(new_id, by="asha", reason=CancelReason.PATIENT)  # the patient changed her mind
    live.relay_events()
    for n in range(domain.ARCHIVE_AT):  # churn in the target until the cancelled new booking is archived
        live.cancel(live.book(target, f"o-{n}", Source.WALKIN).booking_id)
    assert allocator.get_slot(target).booking(new_id) is None
    assert allocator.sweep_no_shows(now=NOW).reschedules_finished == 1
    assert in_slot(allocator, target, "asha") == []  # not booked a second time
    assert allocator.get_booking(new_id).status is Status.CANCELLED
    old = allocator.get_booking(asha.booking_id)
    assert (old.status, old.cancel_reason) == (Status.CANCELLED, CancelReason.RESCHEDULED)


def test_the_new_booking_keeps_the_old_ones_phone_and_language() -> None:
    """Contract, "Languages": a reschedule's new booking is told in the language the old one was."""
    old_slot = Slot("slot-1", "dr-a", START, START + HOUR, ONE_PLACE)
    asked = domain.BookingOptions(phone="+919800000001", language=Language.TA)
    old_slot, old = domain.book(old_slot, "slot-1.a", "asha", Source.ONLINE, NOW, 20, asked)
    target = Slot("slot-2", "dr-a", START + HOUR, START + 2 * HOUR, ONE_PLACE)
    _, placed = domain.place_rescheduled(target, old, "slot-2.b", NOW, 20)
    assert (placed.phone, placed.language, placed.rescheduled_from) == ("+919800000001", Language.TA, "slot-1.a")
