"""In-memory stand-ins for the slot repository and the slot lock, so the service runs without sockets.

They keep the promises of `opd.ports` the way the real adapters keep them, and add no rules of
their own:

- `FakeSlotStore` (like `opd.store.SlotStore`): `replace` writes only if the stored version is
  still the one read, and bumps it; `insert` refuses a second slot of a doctor at the same instant,
  or a taken id, with `SlotExists`; the sweep's, the relay's and a patient's slots are the real queries' filters
  and order (and limit; a patient's by start then doctor, from a given slot on). Slots and bookings are
  frozen dataclasses, so a stored slot cannot be changed behind the store's back and nothing needs copying.
- `FakeBookingArchive` (like `opd.archive.BookingArchiveStore`, the store's `archive`): idempotent adds, and
  a patient's archived bookings in the listing's order.
- `FakeSlotLock` (like `opd.lock.SlotLock`): one holder per slot; `acquire` on a held slot raises
  `SlotBusy` at once (the real lock first waits up to `wait_ms`, but here nothing could let go in
  the meantime); `release` lets go only for the owner. A test makes a slot busy by acquiring its
  lock itself, as another request would, and sees in `taken` which locks were had. Relay markers
  merge as `domain.Relayed.merged` (the real script does the same), and come back with the lock.
  A change's events handed off with a release wait in `handed_off` for a test to `take` them, or go to
  `publish` at once (tests/support/handoff.py's `publish_at_once`: the publisher as quick as can be).
- `FakeEventBacklog` (like `opd.backlog.EventBacklogStore`): one entry per eventId, oldest first.
- `RecordingPublisher` (tests/support/events.py) stands in for EventBridge.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from opd.domain import Booking, Relayed, Slot
from opd.errors import SlotBusy, SlotExists
from opd.eventbridge import Entry
from opd.handoff import HandedOff
from opd.ports import Held, KeyClaim, KeyRecord


class FakeBookingArchive:
    """The archive's promises in memory: adding is idempotent, and the listing keeps the real order."""

    def __init__(self) -> None:
        self.bookings: dict[str, tuple[Slot, Booking]] = {}  # booking id -> (its slot when archived, the booking)
        self.adds = 0  # calls to add: one per archiving write

    def add(self, slot: Slot, bookings: Sequence[Booking]) -> None:
        self.adds += 1
        for booking in bookings:
            self.bookings.setdefault(booking.booking_id, (slot, booking))

    def get(self, booking_id: str) -> Booking | None:
        found = self.bookings.get(booking_id)
        return found[1] if found else None

    def with_status_code(self, code: str) -> Booking | None:
        return next((b for _, b in self.bookings.values() if b.status_code == code), None)

    def of_patient(self, slot_id: str, patient_id: str) -> list[Booking]:
        return [b for s, b in self.bookings.values() if s.slot_id == slot_id and b.patient_id == patient_id]

    def patient_bookings(
        self,
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_key: tuple[datetime, str, str] | None,
    ) -> list[tuple[datetime, Booking]]:
        keyed = sorted(
            ((s.start, s.doctor_id, b.booking_id), b)
            for s, b in self.bookings.values()
            if b.patient_id == patient_id and start_from <= s.start < start_before
        )
        return [(key[0], b) for key, b in keyed if from_key is None or key >= from_key][:limit]


class FakeSlotStore:
    def __init__(self) -> None:
        self.slots: dict[str, Slot] = {}  # each slot as last written, with that write's version
        self.archive = FakeBookingArchive()

    def insert(self, slot: Slot) -> None:
        # The real store's unique keys: the id, and (doctor, start) with starts compared as instants.
        taken = slot.slot_id in self.slots or any(
            s.doctor_id == slot.doctor_id and s.start == slot.start for s in self.slots.values()
        )
        if taken:
            raise SlotExists(
                f"doctor {slot.doctor_id} already has a slot starting {slot.start.astimezone(UTC).isoformat()}"
            )
        self.slots[slot.slot_id] = slot

    def insert_all(self, slots: list[Slot]) -> dict[datetime, str]:
        existing = {}
        for slot in slots:
            same = next(
                (s for s in self.slots.values() if s.doctor_id == slot.doctor_id and s.start == slot.start), None
            )
            if same is None:
                self.insert(slot)
            else:
                existing[slot.start] = same.slot_id
        return existing

    def get(self, slot_id: str) -> Slot | None:
        return self.slots.get(slot_id)

    def replace(self, slot: Slot, read_version: int) -> bool:
        stored = self.slots.get(slot.slot_id)
        if stored is None or stored.version != read_version:
            return False
        self.slots[slot.slot_id] = dataclasses.replace(slot, version=read_version + 1)
        return True

    def doctor_slots(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[Slot]:
        found = (s for s in self.slots.values() if s.doctor_id == doctor_id and start_from <= s.start < start_before)
        return sorted(found, key=lambda s: s.start)

    def slot_starts(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[datetime]:
        return [s.start for s in self.doctor_slots(doctor_id, start_from, start_before)]

    def patient_slots(
        self,
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_slot: tuple[datetime, str] | None = None,
    ) -> list[Slot]:
        # The real query: the patient's slots in the half-open range, from `from_slot` on in (start, doctor) order.
        found = (
            s
            for s in self.slots.values()
            if start_from <= s.start < start_before
            and any(b.patient_id == patient_id for b in s.bookings)
            and (from_slot is None or (s.start, s.doctor_id) >= from_slot)
        )
        return sorted(found, key=lambda s: (s.start, s.doctor_id))[:limit]

    def slot_with_status_code(self, code: str) -> Slot | None:
        return next((s for s in self.slots.values() if any(b.status_code == code for b in s.bookings)), None)

    def slots_awaiting_sweep(self, started_by: datetime, batch_size: int = 100) -> Iterator[str]:
        # Like the real cursor, nothing is read until the first id is asked for.
        due = sorted(
            (s for s in self.slots.values() if s.awaiting_arrival and s.start <= started_by), key=lambda s: s.start
        )
        for slot in due:
            yield slot.slot_id

    def slots_with_reschedules(self, batch_size: int = 100) -> Iterator[str]:
        # The real query's filter (`movesPending`, derived from the bookings on every write); lazy too.
        for slot in list(self.slots.values()):
            if slot.reschedules_pending:
                yield slot.slot_id

    def slots_with_events(self, batch_size: int = 100) -> Iterator[Slot]:
        yield from [s for s in self.slots.values() if s.outbox]

    def prune_outbox(self, slot: Slot, relayed: Relayed) -> bool:
        stored = self.slots.get(slot.slot_id)
        if stored is None or stored.version != slot.version:
            return False
        kept = tuple(relayed.unpublished(slot.outbox))
        self.slots[slot.slot_id] = dataclasses.replace(stored, outbox=kept)
        return True


class FakeSlotLock:
    """The real lock's promises in memory: one holder per slot, release by the owner only, and a
    key's record that a different slot or body, or a remembered refusal, answers instead."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}  # slot id -> the owner token of whoever holds its lock
        self.taken: list[str] = []  # every slot id whose lock was had, in order, for tests to look at
        self.records: dict[str, KeyRecord] = {}  # key hash -> its record
        self.marks: dict[str, Relayed] = {}  # slot id -> its relay marker
        self.handed_off: list[str] = []  # changes' events handed to the publisher, oldest first
        # The publisher, when a test wants each change's events published as its lock is let go
        # (`publish_at_once`); otherwise they wait in `handed_off` for a test to `take`.
        self.publish: Callable[[list[HandedOff]], object] | None = None
        self._guard = threading.Lock()  # makes check-and-take one step, as the real script is
        self._tokens = itertools.count(1)

    def acquire(self, slot_id: str, claim: KeyClaim | None = None) -> Held | KeyRecord:
        # Nothing in one thread could let go meanwhile, so a held lock is busy at once, not after a wait.
        with self._guard:
            if claim is not None:
                seen = self.records.setdefault(claim.key, KeyRecord(claim.slot_id, claim.body, None))
                if not seen.matches(claim) or seen.refusal is not None:
                    return seen
            if slot_id in self.owners:
                raise SlotBusy(f"slot {slot_id} is busy, try again", retry_after_seconds=1)
            owner = self.owners[slot_id] = f"owner-{next(self._tokens)}"
            self.taken.append(slot_id)
            return Held(owner, waited=False, relayed=self.marks.get(slot_id, Relayed()))

    def release(self, slot_id: str, owner: str, hand_off: str | None = None) -> bool:
        with self._guard:
            if hand_off is not None:
                self.handed_off.append(hand_off)
            if self.owners.get(slot_id) != owner:
                return False
            del self.owners[slot_id]
            return True

    def release_quietly(self, slot_id: str, owner: str, hand_off: str | None = None) -> None:
        self.release(slot_id, owner, hand_off)
        if hand_off is not None and self.publish is not None:
            self.publish(self.take(1_000, 0))

    def take(self, limit: int, wait_s: float) -> list[HandedOff]:
        """The publisher's end of the hand-off list (`opd.handoff.HandOffQueue.take`), without waiting."""
        with self._guard:
            taken, self.handed_off[:limit] = self.handed_off[:limit], []
        return [change for raw in taken if (change := HandedOff.decode(raw)) is not None]

    def published_marks(self, slot_ids: Sequence[str]) -> dict[str, Relayed]:
        with self._guard:
            return {s: self.marks[s] for s in slot_ids if s in self.marks}

    def record_published(self, marks: Mapping[str, Relayed]) -> None:
        with self._guard:
            for slot_id, news in marks.items():
                self.marks[slot_id] = self.marks.get(slot_id, Relayed()).merged(news)

    def remember_refusal(self, claim: KeyClaim, refusal: str) -> KeyRecord | None:
        with self._guard:
            seen = self.records.get(claim.key)
            if seen is not None and (not seen.matches(claim) or seen.refusal is not None):
                return seen
            self.records[claim.key] = KeyRecord(claim.slot_id, claim.body, refusal)
            return None


class FakeEventBacklog:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.adds = 0  # calls that kept something: how often requests moved events here

    def add(self, entries: Sequence[Entry]) -> None:
        self.adds += 1
        for entry in entries:
            self.entries.setdefault(entry.event_id, entry)  # the same eventId twice keeps the first

    def oldest(self, limit: int) -> list[Entry]:
        return sorted(self.entries.values(), key=lambda e: (e.time, e.event_id))[:limit]

    def remove(self, event_ids: Collection[str]) -> None:
        for event_id in event_ids:
            self.entries.pop(event_id, None)
