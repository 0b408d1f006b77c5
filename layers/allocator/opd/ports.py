"""What the allocator needs from the outside world: somewhere to keep slots, and a lock per slot.

`opd.service` depends on these protocols, not on MongoDB or Redis. The real adapters
(`opd.store.SlotStore`, `opd.lock.SlotLock`) satisfy them structurally, and so do the unit tests'
in-memory fakes. Either may raise `DependencyUnavailable` when its backend cannot be reached,
having written nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from opd.domain import Slot


class SlotRepository(Protocol):
    """The slots, one record per slot holding its capacity, delay, token counter and bookings.

    Each record carries a version; every write after the first is conditional on it.
    """

    def insert(self, slot: Slot) -> None:
        """Add a new slot as it is. Raises `SlotExists` if the doctor already has a slot starting at
        the same instant (whatever the offset it was given in), or the slot id is taken."""

    def get(self, slot_id: str) -> Slot | None:
        """The slot as last written, with that write's version; None if there is no such slot."""

    def replace(self, slot: Slot, read_version: int) -> bool:
        """Write the whole slot if it is still at `read_version`; the stored version becomes `read_version + 1`.

        False means someone else wrote it since (or it is gone) and nothing was written: read it
        again and decide again.
        """

    def doctor_slots(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[Slot]:
        """The doctor's slots starting at or after `start_from` and before `start_before`, by start."""

    def slots_awaiting_sweep(self, started_by: datetime, batch_size: int) -> Iterable[str]:
        """Ids of the slots that started at or before `started_by` and still hold a BOOKED booking,
        oldest start first, read lazily `batch_size` at a time so a sweep can stop part-way."""


class SlotMutex(Protocol):
    """Keeps the writers of one slot in single file, so nearly every request decides on its first try.

    It is not what keeps the counts right: the lock may expire under a stalled holder, and the
    repository's version-conditional replace is what refuses the stale write.
    """

    def held(self, slot_id: str) -> AbstractContextManager[None]:
        """Hold the slot's lock for the `with` block and release it on the way out, even on an error
        (but never a lock that has since passed to someone else). Raises `SlotBusy` if the lock
        cannot be had within a bounded wait."""
