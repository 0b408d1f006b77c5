"""The service itself, on the in-memory fakes and a fixed clock: no sockets, no servers."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from opd import domain
from opd.domain import CancelReason, Capacity, Slot, Source, Status
from opd.errors import DuplicateBooking, InvalidTransition, NotFound, SlotBusy, SlotExists, SlotFull
from opd.ports import Held, KeyClaim, KeyRecord, SlotMutex, SlotRepository
from opd.service import Allocator, RequestKey, SweepReport
from opd.settings import Settings
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)  # 09:00 in the clinic (Asia/Kolkata)
END = START + timedelta(hours=1)
NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)  # the day before: every slot here is still open
LATE = START + timedelta(hours=3)  # past start + grace of every slot the sweep tests open
IST = timezone(timedelta(hours=5, minutes=30))

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


@pytest.fixture
def store() -> FakeSlotStore:
    return FakeSlotStore()


@pytest.fixture
def lock() -> FakeSlotLock:
    return FakeSlotLock()


@pytest.fixture
def allocator(store: FakeSlotStore, lock: FakeSlotLock) -> FakeAllocator:
    return Allocator(store, lock, Settings(), clock=lambda: NOW)


def statuses[S: SlotRepository, M: SlotMutex](allocator: Allocator[S, M], slot_id: str) -> list[Status]:
    return [b.status for b in allocator.get_slot(slot_id).bookings]


# -- slots -----------------------------------------------------------------------------------


def test_a_created_slot_is_stored_and_read_back(allocator: FakeAllocator, store: FakeSlotStore) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=4))
    assert store.slots == {slot.slot_id: slot}
    assert allocator.get_slot(slot.slot_id) == slot
    assert slot.version == 0 and slot.capacity == Capacity(base=4)


def test_an_unknown_slot_is_not_found(allocator: FakeAllocator) -> None:
    with pytest.raises(NotFound) as caught:
        allocator.get_slot("slot-nowhere")
    assert caught.value.message == "no slot slot-nowhere"


def test_a_doctor_gets_one_slot_per_start_instant(allocator: FakeAllocator, store: FakeSlotStore) -> None:
    first = allocator.create_slot("dr-rao", START, END)
    with pytest.raises(SlotExists):
        allocator.create_slot("dr-rao", START.astimezone(IST), END.astimezone(IST) + timedelta(hours=1))
    other_doctor = allocator.create_slot("dr-sen", START, END)
    assert set(store.slots) == {first.slot_id, other_doctor.slot_id}


def test_a_doctors_day_is_read_in_the_clinic_time_zone(store: FakeSlotStore, lock: FakeSlotLock) -> None:
    allocator = Allocator(store, lock, Settings(clinic_time_zone="Asia/Kolkata"), clock=lambda: NOW)
    hour = timedelta(hours=1)
    starts = [
        datetime(2030, 1, 6, 23, 30, tzinfo=IST),  # the day before, in the clinic
        datetime(2030, 1, 7, 0, 0, tzinfo=IST),  # 2030-01-06 18:30 in UTC
        datetime(2030, 1, 7, 23, 0, tzinfo=IST),
        datetime(2030, 1, 8, 0, 0, tzinfo=IST),  # the next day, in the clinic
    ]
    made = [allocator.create_slot("dr-rao", s, s + hour) for s in reversed(starts)]
    allocator.create_slot("dr-sen", starts[1], starts[1] + hour)
    day = allocator.doctor_slots("dr-rao", date(2030, 1, 7))
    assert [s.slot_id for s in day] == [made[2].slot_id, made[1].slot_id]  # by start


def test_a_delay_shrinks_new_bookings_only(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=5))
    for i in range(4):
        allocator.book(slot.slot_id, f"p{i}", Source.ONLINE)
    delayed = allocator.set_delay(slot.slot_id, True, 30)
    assert (delayed.delayed, delayed.delay_minutes) == (True, 30)
    assert allocator.get_slot(slot.slot_id) == dataclasses.replace(delayed, version=5)
    with pytest.raises(SlotFull):
        allocator.book(slot.slot_id, "late", Source.WALKIN)  # base 5 -> 4, 4 already booked
    assert allocator.book(slot.slot_id, "paid", Source.PAID).token == 5  # PREMIUM 7 -> 6
    assert statuses(allocator, slot.slot_id) == [Status.BOOKED] * 5  # nobody bumped


# -- bookings --------------------------------------------------------------------------------


def test_bookings_get_tokens_in_order_and_every_write_bumps_the_version(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    made = [allocator.book(slot.slot_id, p, Source.ONLINE) for p in ("asha", "bala", "chitra")]
    assert [b.token for b in made] == [1, 2, 3]
    assert all(b.booking_id.startswith(f"{slot.slot_id}.") and b.created_at == NOW for b in made)
    stored = allocator.get_slot(slot.slot_id)
    assert stored.bookings == tuple(made) and stored.next_token == 4 and stored.version == 3
    assert allocator.get_booking(made[1].booking_id) == made[1]


def test_a_refused_booking_writes_nothing(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=1, premium_buffer=0, emergency_buffer=0))
    allocator.book(slot.slot_id, "asha", Source.ONLINE)
    before = allocator.get_slot(slot.slot_id)
    with pytest.raises(DuplicateBooking):
        allocator.book(slot.slot_id, "asha", Source.WALKIN)
    with pytest.raises(SlotFull):
        allocator.book(slot.slot_id, "bala", Source.WALKIN)
    assert allocator.get_slot(slot.slot_id) == before


def test_a_cancellation_frees_its_place_at_once_and_its_token_is_not_reused(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=2, premium_buffer=0, emergency_buffer=0))
    first = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    allocator.book(slot.slot_id, "bala", Source.ONLINE)
    cancelled = allocator.cancel(first.booking_id)
    assert (cancelled.status, cancelled.updated_at) == (Status.CANCELLED, NOW)
    assert allocator.book(slot.slot_id, "chitra", Source.WALKIN).token == 3
    assert allocator.get_slot(slot.slot_id).booked == 2


def test_a_booking_moves_along_its_state_machine_only(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    booking = allocator.book(slot.slot_id, "asha", Source.FOLLOWUP)
    assert allocator.check_in(booking.booking_id).status is Status.CHECKED_IN
    before = allocator.get_slot(slot.slot_id)
    for refused in (allocator.mark_no_show, allocator.check_in):
        with pytest.raises(InvalidTransition):
            refused(booking.booking_id)
    assert allocator.get_slot(slot.slot_id) == before
    assert allocator.complete(booking.booking_id).status is Status.COMPLETED
    other = allocator.book(slot.slot_id, "bala", Source.ONLINE)
    assert allocator.mark_no_show(other.booking_id).status is Status.NO_SHOW
    assert statuses(allocator, slot.slot_id) == [Status.COMPLETED, Status.NO_SHOW]


def test_a_checked_in_patient_who_leaves_gives_the_place_back_to_the_waitlist(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=1, premium_buffer=0, emergency_buffer=0))
    arrived = allocator.book(slot.slot_id, "asha", Source.WALKIN)
    waiting = allocator.book(slot.slot_id, "bala", Source.ONLINE, waitlist=True)
    assert (allocator.check_in(arrived.booking_id).status, waiting.status) == (Status.CHECKED_IN, Status.WAITLISTED)
    left = allocator.cancel(arrived.booking_id, by="desk")
    assert (left.status, left.cancel_reason) == (Status.CANCELLED, CancelReason.STAFF)
    assert allocator.get_booking(waiting.booking_id).status is Status.BOOKED
    assert allocator.get_slot(slot.slot_id).booked == 1


def test_the_queue_calls_critical_patients_first(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    for patient, source in [("asha", Source.ONLINE), ("bala", Source.EMERGENCY), ("chitra", Source.PAID)]:
        allocator.book(slot.slot_id, patient, source)
    assert [b.patient_id for b in allocator.queue(slot.slot_id)] == ["bala", "asha", "chitra"]


def test_a_slot_whose_lock_is_held_elsewhere_refuses_changes_and_writes_nothing(
    allocator: FakeAllocator, lock: FakeSlotLock
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    booking = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    before = allocator.get_slot(slot.slot_id)
    held = lock.acquire(slot.slot_id)  # another request is in the middle of changing it
    assert isinstance(held, Held)
    changes: list[Callable[[], object]] = [
        lambda: allocator.book(slot.slot_id, "bala", Source.ONLINE),
        lambda: allocator.cancel(booking.booking_id),
        lambda: allocator.set_delay(slot.slot_id, True, 15),
    ]
    for change in changes:
        with pytest.raises(SlotBusy) as caught:
            change()
        assert caught.value.retry_after_seconds == 1
    assert allocator.get_slot(slot.slot_id) == before
    assert allocator.queue(slot.slot_id) == [booking]  # reads need no lock
    lock.release(slot.slot_id, held.owner)
    assert allocator.book(slot.slot_id, "bala", Source.ONLINE).token == 2
    assert lock.owners == {}  # the service let go of it again


class StoreReadStaleOnce(FakeSlotStore):
    """The first read of `stale` returns it as it was before a rival's booking filled it up."""

    stale: Slot | None = None

    def get(self, slot_id: str) -> Slot | None:
        if self.stale is not None and self.stale.slot_id == slot_id:
            stale, self.stale = self.stale, None
            return stale
        return super().get(slot_id)


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keyed"])
def test_a_hot_slot_that_filled_up_while_a_request_waited_refuses_it_instead_of_429(keyed: bool) -> None:
    store, lock = StoreReadStaleOnce(), FakeSlotLock()
    allocator = Allocator(store, lock, Settings(), clock=lambda: NOW)
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=1, premium_buffer=0, emergency_buffer=0))
    empty = allocator.get_slot(slot.slot_id)
    allocator.book(slot.slot_id, "asha", Source.ONLINE)  # a rival takes the one place...
    before = allocator.get_slot(slot.slot_id)
    store.stale = empty  # ...after this request read the slot with that place free
    held = lock.acquire(slot.slot_id)  # and the next rival holds the lock: this request waits in vain
    assert isinstance(held, Held)
    key = RequestKey(key="k-bala", body="b-1") if keyed else None
    with pytest.raises(SlotFull):  # true of the slot read after the wait; without that read: SlotBusy
        allocator.book(slot.slot_id, "bala", Source.ONLINE, key)
    assert allocator.get_slot(slot.slot_id) == before  # nothing written
    if keyed:  # the refusal is the key's first answer, as any refusal of a keyed request
        assert lock.records["k-bala"].refusal is not None
    lock.release(slot.slot_id, held.owner)


# -- a lost conditional write is decided again ------------------------------------------------


class StoreWithARival(FakeSlotStore):
    """Between the service's read and its write, a rival writer gets in first (as a lock holder
    that stalled past its TTL would), `rival_writes_left` times."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[Slot], Slot] = lambda slot: slot
        self.rival_writes_left = 0
        self.reads = 0

    def get(self, slot_id: str) -> Slot | None:
        self.reads += 1
        return super().get(slot_id)

    def replace(self, slot: Slot, read_version: int) -> bool:
        if self.rival_writes_left > 0:
            self.rival_writes_left -= 1
            current = self.slots[slot.slot_id]
            assert super().replace(self.rival(current), current.version)
        return super().replace(slot, read_version)


def rival_books(slot: Slot) -> Slot:
    token = slot.next_token
    return domain.book(slot, f"{slot.slot_id}.rival{token}", f"rival-{token}", Source.WALKIN, NOW, 20)[0]


@pytest.fixture
def raced() -> Allocator[StoreWithARival, FakeSlotLock]:
    return Allocator(StoreWithARival(), FakeSlotLock(), Settings(write_attempts=3), clock=lambda: NOW)


def test_a_booking_that_lost_its_write_is_decided_again_on_the_fresh_slot(
    raced: Allocator[StoreWithARival, FakeSlotLock],
) -> None:
    slot = raced.create_slot("dr-rao", START, END)
    raced.store.rival, raced.store.rival_writes_left = rival_books, 1
    booking = raced.book(slot.slot_id, "asha", Source.ONLINE)
    assert booking.token == 2
    stored = raced.get_slot(slot.slot_id)
    assert [(b.patient_id, b.token) for b in stored.bookings] == [("rival-1", 1), ("asha", 2)]
    assert (stored.next_token, stored.version, stored.booking(booking.booking_id)) == (3, 2, booking)


def test_the_decision_made_again_can_be_a_refusal(raced: Allocator[StoreWithARival, FakeSlotLock]) -> None:
    slot = raced.create_slot("dr-rao", START, END, Capacity(base=1, premium_buffer=0, emergency_buffer=0))
    raced.store.rival, raced.store.rival_writes_left = rival_books, 1  # takes the last place first
    with pytest.raises(SlotFull):
        raced.book(slot.slot_id, "asha", Source.ONLINE)
    assert [b.patient_id for b in raced.get_slot(slot.slot_id).bookings] == ["rival-1"]


def test_a_move_that_lost_its_write_is_decided_again(raced: Allocator[StoreWithARival, FakeSlotLock]) -> None:
    slot = raced.create_slot("dr-rao", START, END)
    booking = raced.book(slot.slot_id, "asha", Source.ONLINE)

    def rival_cancels(current: Slot) -> Slot:
        return domain.transition(current, booking, Status.CANCELLED, NOW)[0]

    raced.store.rival, raced.store.rival_writes_left = rival_cancels, 1
    with pytest.raises(InvalidTransition):
        raced.check_in(booking.booking_id)
    assert statuses(raced, slot.slot_id) == [Status.CANCELLED]


@pytest.mark.parametrize("losses", [2, 3])
def test_after_write_attempts_lost_writes_the_request_gives_up_busy(
    raced: Allocator[StoreWithARival, FakeSlotLock], losses: int
) -> None:
    slot = raced.create_slot("dr-rao", START, END)
    raced.store.rival, raced.store.rival_writes_left, raced.store.reads = rival_books, losses, 0
    if losses < raced.settings.write_attempts:
        assert raced.book(slot.slot_id, "asha", Source.ONLINE).token == losses + 1
    else:
        with pytest.raises(SlotBusy):
            raced.book(slot.slot_id, "asha", Source.ONLINE)
        assert raced.store.reads == 1 + raced.settings.write_attempts  # the first read, then one after each loss
        assert [b.patient_id for b in raced.get_slot(slot.slot_id).bookings] == ["rival-1", "rival-2", "rival-3"]
    assert raced.store.rival_writes_left == 0
    assert raced.lock.owners == {}


class StoreThatLosesAnAnswer(FakeSlotStore):
    """The write lands but its answer is lost and the retried write finds the version moved on,
    so the service is told False for a write that did happen."""

    lose_next = False

    def replace(self, slot: Slot, read_version: int) -> bool:
        written = super().replace(slot, read_version)
        if self.lose_next:
            self.lose_next = False
            return False
        return written


def test_a_booking_whose_write_landed_unseen_is_not_made_twice() -> None:
    store = StoreThatLosesAnAnswer()
    allocator = Allocator(store, FakeSlotLock(), Settings(), clock=lambda: NOW)
    slot = allocator.create_slot("dr-rao", START, END)
    store.lose_next = True
    booking = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    stored = allocator.get_slot(slot.slot_id)
    assert (stored.bookings, stored.version) == ((booking,), 1)


# -- the no-show sweep -----------------------------------------------------------------------


@pytest.fixture
def due(allocator: FakeAllocator) -> list[Slot]:
    """Three slots, an hour apart, each past start + grace at LATE with one BOOKED booking."""
    slots = [allocator.create_slot("dr-rao", START + timedelta(hours=h), END + timedelta(hours=h)) for h in range(3)]
    for slot in slots:
        allocator.book(slot.slot_id, "asha", Source.ONLINE)
    return [allocator.get_slot(s.slot_id) for s in slots]


def seconds_left(*values: float) -> Callable[[], float]:
    remaining: Iterator[float] = iter(values)
    return lambda: next(remaining)


def test_a_sweep_marks_only_the_booked_patients_of_slots_past_their_grace(allocator: FakeAllocator) -> None:
    past = allocator.create_slot("dr-rao", START, END)
    away = allocator.book(past.slot_id, "asha", Source.ONLINE)
    came = allocator.book(past.slot_id, "bala", Source.ONLINE)
    allocator.check_in(came.booking_id)
    allocator.book(past.slot_id, "chitra", Source.PAID)
    in_grace = allocator.create_slot("dr-rao", START + timedelta(minutes=10), END)
    allocator.book(in_grace.slot_id, "dev", Source.ONLINE)

    at = START + timedelta(minutes=20)
    assert allocator.sweep_no_shows(now=at) == SweepReport(marked=2, slots=1, busy=0, finished=True)
    assert statuses(allocator, past.slot_id) == [Status.NO_SHOW, Status.CHECKED_IN, Status.NO_SHOW]
    assert allocator.get_booking(away.booking_id).updated_at == at
    assert statuses(allocator, in_grace.slot_id) == [Status.BOOKED]
    assert allocator.sweep_no_shows(now=at) == SweepReport(marked=0, slots=0, busy=0, finished=True)


def test_the_sweeper_promotes_nobody_and_a_second_run_changes_nothing(allocator: FakeAllocator) -> None:
    """Red team, v2: sweep 1 marked the holder NO_SHOW and promoted the waitlisted patient (who was sent
    "a place came free"); sweep 2, with the same `now`, made that patient a NO_SHOW."""
    slot = allocator.create_slot("dr-rao", START, END, Capacity(base=1, premium_buffer=0, emergency_buffer=0))
    holder = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    waiting = allocator.book(slot.slot_id, "bala", Source.ONLINE, waitlist=True, phone="+919876543210")
    at = START + timedelta(minutes=allocator.settings.no_show_grace_minutes)
    assert allocator.sweep_no_shows(now=at) == SweepReport(marked=1, slots=1, busy=0, finished=True)
    after_one = allocator.get_slot(slot.slot_id)
    assert allocator.sweep_no_shows(now=at) == SweepReport(marked=0, slots=0, busy=0, finished=True)
    assert allocator.get_slot(slot.slot_id).version == after_one.version  # nothing written
    assert allocator.get_booking(holder.booking_id).status is Status.NO_SHOW
    ended = allocator.get_booking(waiting.booking_id)
    assert (ended.status, ended.cancel_reason, ended.token) == (Status.CANCELLED, CancelReason.WAITLIST_EXPIRED, None)
    assert not [e for e in after_one.outbox if e.detail_type is domain.EventType.BOOKING_PROMOTED]
    # The waitlist is over: the free place is for a new booking, and a full tier would refuse a waitlist join.
    allocator.clock = lambda: at
    assert allocator.book(slot.slot_id, "chitra", Source.WALKIN, waitlist=True).status is Status.BOOKED
    with pytest.raises(SlotFull):
        allocator.book(slot.slot_id, "dev", Source.WALKIN, waitlist=True)


def test_a_sweep_stops_before_its_deadline_and_leaves_the_rest(allocator: FakeAllocator, due: list[Slot]) -> None:
    # Checked before each slot: 5 s and exactly the 2 s reserve go on, 1.9 s stops.
    report = allocator.sweep_no_shows(now=LATE, time_left=seconds_left(5.0, 2.0, 1.9), reserve_s=2.0)
    assert report == SweepReport(marked=2, slots=2, busy=0, finished=False)
    assert [statuses(allocator, s.slot_id) for s in due] == [[Status.NO_SHOW], [Status.NO_SHOW], [Status.BOOKED]]
    assert allocator.sweep_no_shows(now=LATE) == SweepReport(marked=1, slots=1, busy=0, finished=True)


def test_a_sweep_with_no_time_left_touches_nothing(allocator: FakeAllocator, due: list[Slot]) -> None:
    report = allocator.sweep_no_shows(now=LATE, time_left=lambda: 1.0, reserve_s=2.0)
    assert report == SweepReport(marked=0, slots=0, busy=0, finished=False)
    assert [allocator.get_slot(s.slot_id) for s in due] == due


def test_a_slot_whose_patient_arrived_since_the_query_is_left_as_it_is(
    allocator: FakeAllocator, due: list[Slot]
) -> None:
    asked = itertools.count(1)

    def time_left() -> float:
        if next(asked) == 2:  # asked before each slot: before the second, the desk checks its patient in
            allocator.check_in(due[1].bookings[0].booking_id)
        return 60.0

    assert allocator.sweep_no_shows(now=LATE, time_left=time_left) == SweepReport(2, 2, 0, finished=True)
    assert statuses(allocator, due[1].slot_id) == [Status.CHECKED_IN]
    assert allocator.get_slot(due[1].slot_id).version == due[1].version + 1  # the check-in's write only


def test_a_sweep_skips_a_busy_slot_and_the_next_run_takes_it(
    allocator: FakeAllocator, lock: FakeSlotLock, due: list[Slot]
) -> None:
    held = lock.acquire(due[1].slot_id)
    assert isinstance(held, Held)
    assert allocator.sweep_no_shows(now=LATE) == SweepReport(marked=2, slots=2, busy=1, finished=True)
    assert allocator.get_slot(due[1].slot_id) == due[1]
    assert statuses(allocator, due[2].slot_id) == [Status.NO_SHOW]  # went on past the busy one

    lock.release(due[1].slot_id, held.owner)
    assert allocator.sweep_no_shows(now=LATE) == SweepReport(marked=1, slots=1, busy=0, finished=True)
    assert statuses(allocator, due[1].slot_id) == [Status.NO_SHOW]


# -- booking ids that lead nowhere ------------------------------------------------------------

MOVES = ["cancel", "check_in", "mark_no_show", "complete", "get_booking"]


def act(allocator: FakeAllocator, move: str, booking_id: str) -> object:
    operation: Callable[[str], object] = getattr(allocator, move)
    return operation(booking_id)


@pytest.mark.parametrize("booking_id", ["no-slot-part", ".only-a-nonce", "slot-only."])
@pytest.mark.parametrize("move", MOVES)
def test_a_booking_id_without_a_slot_part_is_not_found_before_any_lock(
    allocator: FakeAllocator, lock: FakeSlotLock, move: str, booking_id: str
) -> None:
    with pytest.raises(NotFound) as caught:
        act(allocator, move, booking_id)
    assert caught.value.message == f"no booking {booking_id}"
    assert lock.taken == []


@pytest.mark.parametrize("move", MOVES)
def test_a_booking_id_naming_a_missing_slot_is_not_found(allocator: FakeAllocator, move: str) -> None:
    with pytest.raises(NotFound) as caught:
        act(allocator, move, "slot-gone.b1")
    assert caught.value.message == "no booking slot-gone.b1"


@pytest.mark.parametrize("move", MOVES)
def test_a_booking_id_missing_from_its_slot_is_not_found(
    allocator: FakeAllocator, lock: FakeSlotLock, move: str
) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    allocator.book(slot.slot_id, "asha", Source.ONLINE)
    before = allocator.get_slot(slot.slot_id)
    with pytest.raises(NotFound) as caught:
        act(allocator, move, f"{slot.slot_id}.not-a-booking")
    assert caught.value.message == f"no booking {slot.slot_id}.not-a-booking"
    assert allocator.get_slot(slot.slot_id) == before
    assert lock.owners == {}


# -- the fakes keep the adapters' promises -----------------------------------------------------


def a_slot(slot_id: str = "slot-1", doctor_id: str = "dr-rao", start: datetime = START, booked: int = 0) -> Slot:
    slot = domain.new_slot(slot_id, doctor_id, start, start + timedelta(hours=1), Capacity(), NOW)
    for i in range(booked):
        slot, _ = domain.book(slot, f"{slot_id}.b{i}", f"p{i}", Source.ONLINE, NOW, 20)
    return slot


def test_the_fake_store_writes_only_over_the_version_that_was_read(store: FakeSlotStore) -> None:
    store.insert(a_slot())
    read = store.get("slot-1")
    assert read is not None and read.version == 0
    delayed = domain.set_delay(read, True, 10)
    assert store.replace(delayed, read.version)
    assert store.get("slot-1") == dataclasses.replace(delayed, version=1)
    assert not store.replace(domain.set_delay(read, False, None), read.version)  # stale: someone wrote since
    assert store.get("slot-1") == dataclasses.replace(delayed, version=1)
    assert not store.replace(a_slot("slot-2"), 0)  # never inserted
    assert store.get("slot-2") is None


def test_the_fake_store_refuses_a_second_slot_at_the_same_instant_or_id(store: FakeSlotStore) -> None:
    store.insert(a_slot())
    with pytest.raises(SlotExists) as caught:
        store.insert(a_slot("slot-2", start=START.astimezone(IST)))
    assert caught.value.message == f"doctor dr-rao already has a slot starting {START.isoformat()}"
    with pytest.raises(SlotExists):
        store.insert(a_slot("slot-1", start=START + timedelta(hours=1)))
    store.insert(a_slot("slot-3", doctor_id="dr-sen"))
    assert set(store.slots) == {"slot-1", "slot-3"}


def test_the_fake_store_sweep_query_is_the_real_ones(store: FakeSlotStore) -> None:
    hour = timedelta(hours=1)
    store.insert(a_slot("late", start=START + 2 * hour, booked=1))
    store.insert(a_slot("on-the-cutoff", start=START + hour, booked=1))
    store.insert(a_slot("early", start=START, booked=2))
    store.insert(a_slot("empty", start=START - hour))
    arrived = a_slot("arrived", start=START - 2 * hour, booked=1)
    arrived, _ = domain.transition(arrived, arrived.bookings[0], Status.CHECKED_IN, NOW)
    store.insert(arrived)
    assert list(store.slots_awaiting_sweep(START + hour, 100)) == ["early", "on-the-cutoff"]


def test_the_fake_store_lists_a_doctors_slots_in_a_half_open_range_by_start(store: FakeSlotStore) -> None:
    hour = timedelta(hours=1)
    for slot_id, start in [("b", START + hour), ("a", START), ("c", START + 2 * hour)]:
        store.insert(a_slot(slot_id, start=start))
    store.insert(a_slot("other", doctor_id="dr-sen"))
    assert [s.slot_id for s in store.doctor_slots("dr-rao", START, START + 2 * hour)] == ["a", "b"]


def test_the_fake_lock_excludes_and_lets_go_only_for_its_owner(lock: FakeSlotLock) -> None:
    held = lock.acquire("slot-1")
    assert isinstance(held, Held)
    with pytest.raises(SlotBusy) as caught:
        lock.acquire("slot-1")
    assert caught.value.message == "slot slot-1 is busy, try again"
    assert not lock.release("slot-1", "someone-else")
    other = lock.acquire("slot-2")
    assert isinstance(other, Held)
    lock.release_quietly("slot-2", other.owner)
    assert lock.release("slot-1", held.owner)
    assert lock.owners == {}


def test_the_fake_key_record_answers_for_another_slot_body_or_a_refusal(lock: FakeSlotLock) -> None:
    claim = KeyClaim("k", "slot-1", "body", 3600)
    first = lock.acquire("slot-1", claim)
    assert isinstance(first, Held)
    lock.release("slot-1", first.owner)
    assert lock.acquire("slot-2", KeyClaim("k", "slot-2", "body", 3600)) == KeyRecord("slot-1", "body", None)
    assert lock.remember_refusal(claim, '{"code": "SLOT_FULL"}') is None
    assert lock.acquire("slot-1", claim) == KeyRecord("slot-1", "body", '{"code": "SLOT_FULL"}')
    assert lock.owners == {}
