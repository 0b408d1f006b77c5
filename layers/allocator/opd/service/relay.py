"""Events: published right after the write, and by the relay for whatever that missed.

Every change carries its events in the slot's outbox (`domain.with_events`), written with it. The
writer hands the written slot to `EventRelay.publish_written` right after its write, still under the
lock, and the lock's release script records what was published (the slot's relay marker). The
scheduled relay (`relay_events`) publishes whatever a request left behind: a bus that failed, a
request that stopped between its write and its publication.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from opd import domain, eventbridge
from opd.domain import Event, Slot
from opd.errors import DependencyUnavailable
from opd.ports import EventPublisher, SlotMutex, SlotRepository
from opd.service.reports import RelayReport
from opd.settings import Settings

log = logging.getLogger(__name__)

# After the bus failed a request, this environment's requests leave their events to the relay for
# this long instead of each waiting out the bus's timeouts.
PUBLISH_PAUSE_S = 30.0


class EventRelay:
    """Puts slots' outbox events on the bus: a request's right after its write, and the relay's batches.

    Without a publisher, events wait in the outbox for the relay (and a slot refuses changes at the
    backlog's bound).
    """

    def __init__(
        self, store: SlotRepository, lock: SlotMutex, publisher: EventPublisher | None, settings: Settings
    ) -> None:
        self.store = store
        self.lock = lock
        self.publisher = publisher
        self.settings = settings
        self._paused_until = 0.0  # time.monotonic() until which requests leave publishing to the relay

    def publish_written(self, written: Slot) -> int | None:
        """Put the written slot's pending events on the bus; the version they are published through.

        Never fails the change, which is written: what is not published now stays in the outbox for
        the relay. After a failure of the bus, this environment leaves publishing to the relay for
        PUBLISH_PAUSE_S instead of making every request wait for the bus's timeouts."""
        if time.monotonic() < self._paused_until:
            return None
        marks, _ = self._publish({written.slot_id: (written, list(written.outbox))}, quietly=True)
        return marks.get(written.slot_id)

    def publish_new(self, slots: list[Slot]) -> None:
        """New slots' events (SlotCreated), published together after their insert; their relay markers in one script."""
        if time.monotonic() < self._paused_until:
            return
        marks, _ = self._publish({slot.slot_id: (slot, list(slot.outbox)) for slot in slots}, quietly=True)
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:  # only costs a second publication by the relay
            log.warning("relay markers not recorded: %s", exc.message)

    def _publish(
        self, pending: dict[str, tuple[Slot, list[Event]]], quietly: bool = False
    ) -> tuple[dict[str, int], int]:
        """Publish the events given per slot (each rendered from its slot), several slots' in one
        PutEvents. Returns, per slot, the version its events are now published through (where that
        is known), and how many events the bus took.

        `quietly`: a bus that cannot be reached is logged (and pauses the request path), not raised."""
        if self.publisher is None:
            return {}, 0
        pct = self.settings.delay_reduction_percent
        entries = [entry for slot, outbox in pending.values() for entry in eventbridge.entries(slot, outbox, pct)]
        if not entries:
            return {}, 0
        try:
            done = self.publisher.publish(entries)
        except Exception as exc:  # whatever the bus's client raises: the changes are made, the relay publishes
            if not quietly:
                raise
            self._paused_until = time.monotonic() + PUBLISH_PAUSE_S
            log.warning("events not published, the relay will: %s: %s", type(exc).__name__, exc)
            return {}, 0
        marks = {}
        for slot_id, (_, outbox) in pending.items():
            through = domain.published_through(outbox, done)
            if through is not None:
                marks[slot_id] = through
        return marks, len(done)

    def relay_events(
        self, time_left: Callable[[], float] | None = None, batch_size: int = 100, reserve_s: float = 2.0
    ) -> RelayReport:
        """Publish every event that requests left unpublished, and drop published ones from the outboxes.

        The scheduled relay, every minute: slots with events are found by an index (`outboxPending`);
        a batch's relay markers come in one MGET; the events they do not cover are published
        (PutEvents, 10 a request, several slots' together); the markers are raised in one script;
        and each slot's outbox is pruned by an update conditional on its version, which it leaves as
        it is, so it never undoes a concurrent change (whose writer prunes by the marker instead).
        At least once: a lost marker, or a request publishing the same slot at that moment, sends
        an event twice, with the same eventId.
        """
        if self.publisher is None:
            raise DependencyUnavailable("events", "no event bus is configured (EVENT_BUS_NAME)")
        totals = [0, 0, 0, 0]  # published, slots, pruned, left pending
        batch: list[Slot] = []
        for slot in self.store.slots_with_events(batch_size):
            if not batch and time_left is not None and time_left() < reserve_s:
                return RelayReport(totals[0], totals[1], totals[2], totals[3], finished=False)
            batch.append(slot)
            if len(batch) == batch_size:
                totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
                batch = []
        if batch:
            totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
        return RelayReport(totals[0], totals[1], totals[2], totals[3], finished=True)

    def _relay_batch(self, batch: list[Slot]) -> tuple[int, int, int, int]:
        try:
            known = self.lock.published_marks([slot.slot_id for slot in batch])
        except DependencyUnavailable as exc:  # without markers, every event in the outboxes goes (again)
            log.warning("relay markers not read, publishing every outbox event: %s", exc.message)
            known = {}

        def unpublished(slot: Slot) -> list[Event]:
            mark = known.get(slot.slot_id)
            return [e for e in slot.outbox if mark is None or e.slot_version > mark]

        waiting = {slot.slot_id: (slot, unpublished(slot)) for slot in batch}
        marks, published = self._publish(waiting)
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:
            log.warning("relay markers not recorded: %s", exc.message)
        pruned = 0
        for slot in batch:
            through = marks.get(slot.slot_id, known.get(slot.slot_id))
            if through is not None and any(e.slot_version <= through for e in slot.outbox):
                try:
                    pruned += int(self.store.prune_outbox(slot, through))
                except DependencyUnavailable as exc:  # the next run, or the slot's next writer, prunes
                    log.warning("outbox of slot %s not pruned: %s", slot.slot_id, exc.message)
        left = sum(len(outbox) for _, outbox in waiting.values()) - published
        return published, len(batch), pruned, max(0, left)
