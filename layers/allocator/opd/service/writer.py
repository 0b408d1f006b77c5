"""The one way a slot changes: read, decide in pure code, and only if something changes, lock, write, release.

`SlotWriter.change` is the fenced write path every command goes through: the write is a replace
conditional on the version that was read, the lock only keeps a slot's writers in single file. It
also holds what an Idempotency-Key's record answers (a remembered refusal, a conflict).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from opd import domain
from opd.domain import Slot
from opd.errors import (
    DependencyUnavailable,
    IdempotencyConflict,
    OpdError,
    OutcomeUnknown,
    SlotBusy,
    WriteNotAcknowledged,
    refusal,
)
from opd.ports import Held, KeyClaim, KeyRecord, SlotMutex, SlotRepository
from opd.service.reads import get_slot
from opd.service.relay import EventRelay
from opd.settings import Settings

T = TypeVar("T")
Decision = tuple[Slot | None, T]  # (the slot to write, or None when nothing changes; the answer)

log = logging.getLogger(__name__)

KEY_TTL_S = 86_400  # how long Redis remembers a key's slot and refusal; a booking keeps its key for good
OUTCOME_WAIT_S = 2.0  # how long to keep asking MongoDB whether a write whose reply was lost was applied


@dataclass(frozen=True)
class RequestKey:
    """An Idempotency-Key as the allocator sees it: hashes only, so no caller's text is stored."""

    key: str  # a hash of (caller, Idempotency-Key): two callers never share a key
    body: str  # a hash of the request body: the same key with another body is a conflict
    ttl_s: int = KEY_TTL_S


class SlotWriter:
    """Writes slots, fenced by their version, under their lock; publishes each write once the lock is let go."""

    def __init__(
        self,
        store: SlotRepository,
        lock: SlotMutex,
        settings: Settings,
        clock: Callable[[], datetime],
        relay: EventRelay,
        outcome_wait_s: float = OUTCOME_WAIT_S,
    ) -> None:
        self.store = store
        self.lock = lock
        self.settings = settings
        self.clock = clock
        self.relay = relay
        self.outcome_wait_s = outcome_wait_s

    def change(
        self,
        slot_id: str,
        decide: Callable[[Slot], Decision[T]],
        claim: KeyClaim | None = None,
        read: Slot | None = None,
        publish: Callable[[Slot], None] | None = None,
    ) -> T:
        """Read, decide in pure code, and only if something changes: lock, write, release.

        The write is a replace conditional on the version that was read, so it is correct whenever
        the read happened, before the lock or under it: if anyone wrote in between, it matches
        nothing and the decision is made again on fresh state (never resting on the lock's TTL).
        Reading before locking is what makes answers that change nothing cheap, and a keyed
        booking no dearer than a plain one. Round trips, uncontended:

        - a booking, keyed or not, a cancel, any move: find, EVAL (lock), update, EVAL (release) = 4
          (a key's Redis record is claimed inside the locking script);
        - a repeat of a keyed booking: find = 1; a refusal: find = 1 (keyed: + EVAL to remember it).

        Events: the write carries the change's events in the slot's outbox (`domain.with_events`),
        less those the relay marker (read by the locking script) says are published. The releasing
        script hands them to the publisher (`opd.handoff`), which puts them on the bus: the lock is
        held for the lock, the write and the release, and the request makes no round trip more.

        Taking the lock first (the old order) costs the same 4 for a change, but 3 for a repeat or a
        refusal (lock, find, release), and a keyed repeat could not be answered while Redis is down.
        The price of reading first: a request that had to wait for the lock reads again under it
        (5), since what it read first is then likely stale; without that it would still be correct,
        only a write would be wasted. The lock keeps a slot's writers in single file so they rarely lose.
        A request whose wait for the lock runs out reads once more before answering 429 (see below).
        `read` is the slot as the caller has just read it, which saves reading it again.
        `publish`: what publishes the slot as written, for a request that writes many slots (a leave:
        `EventRelay.publishing`); by default its events are handed off to the publisher.
        """
        slot = read or get_slot(self.store, slot_id)
        # A refusal (raised by `decide`), or an answer that changes nothing (a keyed repeat), is given
        # here from this one read, without the lock: it is true of the state that was read, the very
        # state a write would have been conditional on, so holding the lock could not make it truer.
        # A refusal is no promise about the next instant: a place freed a moment later is the next
        # request's. Only a change needs the lock.
        changed, answer = self._decided(slot, decide, claim)
        if changed is None:
            return answer
        try:
            held = self.lock.acquire(slot_id, claim)
        except SlotBusy:
            # The bounded wait ran out. The slot as it is now may answer without the lock, as above: a
            # hot slot that filled up while this request waited refuses it (true of this second read)
            # instead of sending it back in a second with 429. Only a change still wanted is busy.
            changed, answer = self._decided(get_slot(self.store, slot_id), decide, claim)
            if changed is None:
                return answer
            raise
        if isinstance(held, KeyRecord):
            raise self._recorded_answer(held, claim)
        hand_off = None
        try:
            answer, written = self._write_decided(slot_id, held, slot, changed, answer, decide)
            if written is not None and publish is None:
                # Rendered under the lock (pure code), to ride in the release's script: no round trip of its own.
                hand_off = self.relay.hand_off(written)
        except OpdError as refused:
            if claim is None or isinstance(refused, DependencyUnavailable | SlotBusy):
                raise
            raise self.first_answer(claim, refused) from None
        finally:
            # Also when the request fails: a lock left behind would hold the slot for its whole TTL.
            self.lock.release_quietly(slot_id, held.owner, hand_off)
        if written is not None:
            (publish or self.relay.spill_written)(written)
        return answer

    def _decided(self, slot: Slot, decide: Callable[[Slot], Decision[T]], claim: KeyClaim | None) -> Decision[T]:
        """`decide(slot)`; a refusal of a keyed request is answered as its key's first answer."""
        try:
            return decide(slot)
        except OpdError as refused:
            if claim is None:
                raise
            raise self.first_answer(claim, refused) from None

    def _write_decided(
        self,
        slot_id: str,
        held: Held,
        slot: Slot,
        changed: Slot | None,
        answer: T,
        decide: Callable[[Slot], Decision[T]],
    ) -> tuple[T, Slot | None]:
        """Under the lock: write what was decided, deciding again on fresh state whenever it lost.

        Returns the answer and the slot as written (None when nothing was)."""
        if held.waited:
            slot = get_slot(self.store, slot_id)
            changed, answer = decide(slot)
        for _ in range(self.settings.write_attempts):
            if changed is None:
                return answer, None
            outboxed = self._archiving(domain.with_events(slot, changed, self.clock(), held.relayed))
            fresh = self._write(outboxed, slot.version)
            if fresh is None:
                return answer, replace(outboxed, version=slot.version + 1)
            time.sleep(0.001)
            slot = fresh
            changed, answer = decide(slot)
        raise SlotBusy(f"slot {slot_id} kept changing under this request, try again", retry_after_seconds=1)

    def _archiving(self, slot: Slot) -> Slot:
        """`slot` as it must be written: once it holds ARCHIVE_AT finished bookings no waiting event needs,
        they are archived first (one more round trip, for one write in ten finished bookings) and left out.

        Archived before the write that drops them, so they are never in neither place. An archive that
        cannot be written keeps them in the slot for a later write: the change itself goes on."""
        due = domain.due_for_archive(slot)
        if not due:
            return slot
        try:
            self.store.archive.add(slot, due)
        except DependencyUnavailable as exc:
            log.warning("finished bookings of slot %s stay in it for now: %s", slot.slot_id, exc.message)
            return slot
        return domain.without_archived(slot, due)

    def _write(self, changed: Slot, read_version: int) -> Slot | None:
        """Write `changed` if the slot is still at `read_version`: None once written, else the slot as it is now."""
        try:
            if self.store.replace(changed, read_version):
                return None
        except WriteNotAcknowledged:
            # MongoDB may have applied the write and lost only its reply. Read before answering: a
            # change that was made is answered as made, never as 503. If it was not made, the slot
            # is still at `read_version` and the caller decides (and writes, fenced) again. (Slots
            # compare without their outbox, which the relay may have pruned meanwhile.)
            fresh = self._read_after_lost_write(changed.slot_id)
            return None if fresh == replace(changed, version=read_version + 1) else fresh
        return get_slot(self.store, changed.slot_id)

    def _read_after_lost_write(self, slot_id: str) -> Slot:
        """The slot, asked again until MongoDB answers (a failover, a dropped connection) or time is up."""
        give_up_at = time.monotonic() + self.outcome_wait_s
        while True:
            try:
                return get_slot(self.store, slot_id)
            except DependencyUnavailable as exc:
                if time.monotonic() >= give_up_at:
                    raise OutcomeUnknown(
                        "mongo",
                        "MongoDB went away while the change was being written and may have applied it: "
                        "repeat the request (with the same Idempotency-Key) to learn whether it was made",
                    ) from exc
                time.sleep(0.05)

    # -- what an Idempotency-Key's record says ----------------------------------------------

    def first_answer(self, claim: KeyClaim, refused: OpdError) -> OpdError:
        """What a keyed request refused now answers: the key's first answer if Redis holds one, else this
        refusal, kept as the first answer. Best effort: without Redis, the refusal is answered as is."""
        if isinstance(refused, IdempotencyConflict):
            return refused
        first = json.dumps({"code": refused.code, "message": refused.message, "details": refused.details})
        try:
            record = self.lock.remember_refusal(claim, first)
        except DependencyUnavailable as exc:
            log.warning("refusal not remembered for its Idempotency-Key: %s", exc.message)
            return refused
        return refused if record is None else self._recorded_answer(record, claim)

    @staticmethod
    def _recorded_answer(record: KeyRecord, claim: KeyClaim | None) -> OpdError:
        if claim is None or not record.matches(claim) or record.refusal is None:
            return IdempotencyConflict("this Idempotency-Key was already used with a different body")
        first = json.loads(record.refusal)
        return refusal(first["code"], first["message"], first["details"])
