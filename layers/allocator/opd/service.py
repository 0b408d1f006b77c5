"""The allocator's operations: domain decisions applied under the slot's lock, written in one replace.

Dependencies come in as parameters (store, lock, settings, clock), typed by the ports in
`opd.ports`, so the handlers, the local runner and the tests all assemble the same service around
different adapters: MongoDB and Redis in AWS and locally, in-memory fakes in the unit tests.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, TypeVar

from opd import domain
from opd.domain import Booking, Capacity, Slot, Source, Status
from opd.errors import NotFound, SlotBusy
from opd.ports import SlotMutex, SlotRepository
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.lock import SlotLock
    from opd.store import SlotStore

T = TypeVar("T")
Decision = tuple[Slot | None, T]  # (the slot to write, or None when nothing changes; the answer)


def utc_now() -> datetime:
    """Now, to the millisecond: BSON keeps milliseconds, so what we answer equals what we store."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_slot_id() -> str:
    return f"slot-{secrets.token_hex(12)}"


def new_booking_id(slot_id: str) -> str:
    return f"{slot_id}.{secrets.token_hex(8)}"


@dataclass(frozen=True)
class SweepReport:
    marked: int  # bookings this run turned into NO_SHOW
    slots: int  # slots it changed
    busy: int  # slots left for the next run because their lock was held
    finished: bool  # False when it stopped early to respect the caller's deadline


class Allocator[Store: SlotRepository = SlotStore, Mutex: SlotMutex = SlotLock]:
    """The service over any slot repository and slot mutex.

    Generic in the two so that whoever assembles it keeps their adapters' own types (the runtime
    and the tests reach `allocator.store` as the store they built); a bare `Allocator` is the one
    over MongoDB and Redis.
    """

    def __init__(
        self,
        store: Store,
        lock: Mutex,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.lock = lock
        self.settings = settings or Settings()
        self.clock = clock

    # -- slots -----------------------------------------------------------------------------

    def create_slot(self, doctor_id: str, start: datetime, end: datetime, capacity: Capacity | None = None) -> Slot:
        slot = domain.new_slot(new_slot_id(), doctor_id, start, end, capacity or Capacity(), self.clock())
        self.store.insert(slot)
        return slot

    def get_slot(self, slot_id: str) -> Slot:
        slot = self.store.get(slot_id)
        if slot is None:
            raise NotFound(f"no slot {slot_id}")
        return slot

    def doctor_slots(self, doctor_id: str, day: date) -> list[Slot]:
        """The doctor's slots starting on `day` in the clinic's time zone, by start."""
        domain.require_id("doctorId", doctor_id)
        midnight = datetime.combine(day, clock_time(), tzinfo=self.settings.clinic_zone)
        next_midnight = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=self.settings.clinic_zone)
        return self.store.doctor_slots(doctor_id, midnight, next_midnight)

    def set_delay(self, slot_id: str, delayed: bool, minutes: int | None = None) -> Slot:
        def decide(slot: Slot) -> Decision[Slot]:
            changed = domain.set_delay(slot, delayed, minutes)
            return changed, changed

        return self._change(slot_id, decide)

    def queue(self, slot_id: str) -> list[Booking]:
        return domain.call_order(self.get_slot(slot_id).bookings)

    # -- bookings --------------------------------------------------------------------------

    def book(self, slot_id: str, patient_id: str, source: Source) -> Booking:
        booking_id = new_booking_id(slot_id)

        def decide(slot: Slot) -> Decision[Booking]:
            # A write that was applied but whose answer got lost must not book twice.
            if (already := slot.booking(booking_id)) is not None:
                return None, already
            return domain.book(
                slot, booking_id, patient_id, source, self.clock(), self.settings.delay_reduction_percent
            )

        return self._change(slot_id, decide)

    def get_booking(self, booking_id: str) -> Booking:
        return self._find_booking(booking_id)[1]

    def cancel(self, booking_id: str) -> Booking:
        return self._move(booking_id, Status.CANCELLED)

    def check_in(self, booking_id: str) -> Booking:
        return self._move(booking_id, Status.CHECKED_IN)

    def mark_no_show(self, booking_id: str) -> Booking:
        return self._move(booking_id, Status.NO_SHOW)

    def complete(self, booking_id: str) -> Booking:
        return self._move(booking_id, Status.COMPLETED)

    # -- the no-show sweep -----------------------------------------------------------------

    def sweep_no_shows(
        self,
        now: datetime | None = None,
        time_left: Callable[[], float] | None = None,
        batch_size: int = 100,
        reserve_s: float = 2.0,
    ) -> SweepReport:
        """Mark BOOKED bookings of slots past start + grace as NO_SHOW, one slot at a time.

        `time_left` (seconds, e.g. Lambda's remaining time) lets a run stop cleanly and leave the
        rest to the next one. A busy slot is skipped, not waited on: the next run takes it.
        """
        at = now or self.clock()
        grace = self.settings.no_show_grace_minutes
        marked = slots = busy = 0
        for slot_id in self.store.slots_awaiting_sweep(domain.no_show_cutoff(at, grace), batch_size):
            if time_left is not None and time_left() < reserve_s:
                return SweepReport(marked, slots, busy, finished=False)

            def decide(slot: Slot) -> Decision[int]:
                swept, newly = domain.mark_no_shows(slot, at, grace)
                return (swept if newly else None), len(newly)

            try:
                count = self._change(slot_id, decide)
            except SlotBusy:
                busy += 1
                continue
            marked += count
            slots += 1 if count else 0
        return SweepReport(marked, slots, busy, finished=True)

    # -- the one way a slot changes ---------------------------------------------------------

    def _change(self, slot_id: str, decide: Callable[[Slot], Decision[T]]) -> T:
        """Under the slot's lock: read, decide in pure code, write back conditional on the version.

        A lost condition means someone wrote in between (a holder that outlived its lock), so
        the decision is made again on fresh state; correctness never rests on the lock's TTL.
        """
        with self.lock.held(slot_id):
            for _ in range(self.settings.write_attempts):
                slot = self.get_slot(slot_id)
                changed, answer = decide(slot)
                if changed is None or self.store.replace(changed, slot.version):
                    return answer
                time.sleep(0.001)
        raise SlotBusy(f"slot {slot_id} kept changing under this request, try again", retry_after_seconds=1)

    def _find_booking(self, booking_id: str) -> tuple[Slot, Booking]:
        slot_id = domain.slot_id_of_booking(booking_id)
        slot = self.store.get(slot_id) if slot_id else None
        booking = slot.booking(booking_id) if slot else None
        if slot is None or booking is None:
            raise NotFound(f"no booking {booking_id}")
        return slot, booking

    def _move(self, booking_id: str, to: Status) -> Booking:
        # The booking id names its slot, so the lock is taken before any read.
        slot_id = domain.slot_id_of_booking(booking_id)
        if slot_id is None:
            raise NotFound(f"no booking {booking_id}")

        def decide(slot: Slot) -> Decision[Booking]:
            booking = slot.booking(booking_id)
            if booking is None:
                raise NotFound(f"no booking {booking_id}")
            return domain.move(slot, booking, to, self.clock())

        try:
            return self._change(slot_id, decide)
        except NotFound:
            raise NotFound(f"no booking {booking_id}") from None
