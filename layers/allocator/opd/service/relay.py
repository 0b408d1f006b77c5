"""Events: published after the write, off the lock, and by the relay for whatever that missed.

Every change carries its events in the slot's outbox (`domain.with_events`), written with it. Once
the write is made and the slot's lock let go, the writer hands the written slot to
`EventRelay.publish_written`: publishing never holds a slot. What the bus took is recorded in the
slot's relay marker (one Redis script), and the next writer's lock brings the marker back, so its
write drops those events from the outbox. A bus that fails never refuses a change: past
`domain.SPILL_AT` unpublished events, the request moves them to the event backlog (`opd.backlog`)
and marks them as it would published ones, so the slot's document stays bounded however long the
bus is away. The scheduled relay (`relay_events`) publishes the backlog and whatever requests left
in the outboxes: a bus that failed, a request that stopped between its write and its publication.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opd import domain, eventbridge
from opd.domain import Event, Slot
from opd.errors import DependencyUnavailable
from opd.ports import EventBacklog, EventPublisher, SlotMutex, SlotRepository
from opd.service.reports import RelayReport
from opd.settings import Settings

log = logging.getLogger(__name__)

# After the bus failed a request, this environment's requests leave their events to the relay for
# this long instead of each waiting out the bus's timeouts.
PUBLISH_PAUSE_S = 30.0
# A request that writes many slots (a leave) publishes this many slots' events at once, while it writes the
# next: PutEvents waits on the network (10-30 ms in-region), 3 of them for a full slot's 26 events.
PUBLISH_THREADS = 8


class EventRelay:
    """Puts slots' outbox events on the bus: a request's right after its write, and the relay's batches.

    Without a publisher, events wait for the relay: in the outbox, and past SPILL_AT in the backlog.
    Without a backlog (some tests), they all wait in the outbox.
    """

    def __init__(
        self,
        store: SlotRepository,
        lock: SlotMutex,
        publisher: EventPublisher | None,
        settings: Settings,
        backlog: EventBacklog | None = None,
    ) -> None:
        self.store = store
        self.lock = lock
        self.publisher = publisher
        self.settings = settings
        self.backlog = backlog
        self._paused_until = 0.0  # time.monotonic() until which requests leave publishing to the relay

    def publish_written(self, written: Slot) -> None:
        """After the write, with the lock let go: put the slot's pending events on the bus, or past
        SPILL_AT move them to the backlog, and raise the slot's relay marker over what is done.

        Never fails the change, which is written: what is neither published nor moved now stays in
        the outbox for the relay. After a failure of the bus, this environment leaves publishing to
        the relay for PUBLISH_PAUSE_S instead of making every request wait for the bus's timeouts."""
        through = None
        if time.monotonic() >= self._paused_until:
            marks, _ = self._publish({written.slot_id: (written, list(written.outbox))}, quietly=True)
            through = marks.get(written.slot_id)
        left = [e for e in written.outbox if through is None or e.slot_version > through]
        if len(left) >= domain.SPILL_AT and (moved := self._spill(written, left)) is not None:
            through = moved
        if through is not None:
            self._record({written.slot_id: through})

    @contextmanager
    def publishing(self) -> Iterator[Callable[[Slot], None]]:
        """`publish_written` for a request that writes many slots (a leave's day), given to its writes.

        Each slot as written is published at once in the background, PUBLISH_THREADS slots at a time
        (each slot's events in order), while the request writes the next; on leaving, whatever happened,
        the publications are waited for, events past SPILL_AT are moved to the backlog, and every relay
        marker is raised in one script. The first slot is published on the request's thread: it makes the
        bus's client (boto3 makes none safely in two threads at once), and a bus that fails it pauses
        publishing before the others try. Never fails: what is not published stays for the relay."""
        from concurrent.futures import Future, ThreadPoolExecutor  # only a request that writes many slots

        written: list[Slot] = []
        marks: dict[str, int] = {}
        pending: list[Future[dict[str, int]]] = []
        pool = ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="publish")

        def publish(slot: Slot) -> None:
            if written:
                pending.append(pool.submit(self._publish_slot, slot))
            else:
                marks.update(self._publish_slot(slot))
            written.append(slot)

        try:
            yield publish
        finally:
            pool.shutdown(wait=True)
            for done in pending:
                marks.update(done.result())
            for slot in written:
                through = marks.get(slot.slot_id)
                left = [e for e in slot.outbox if through is None or e.slot_version > through]
                if len(left) >= domain.SPILL_AT and (moved := self._spill(slot, left)) is not None:
                    marks[slot.slot_id] = moved
            self._record(marks)

    def _publish_slot(self, slot: Slot) -> dict[str, int]:
        """One written slot's pending events, unless the bus failed lately: {slot id: version published through}."""
        if time.monotonic() < self._paused_until:
            return {}
        return self._publish({slot.slot_id: (slot, list(slot.outbox))}, quietly=True)[0]

    def _spill(self, slot: Slot, events: list[Event]) -> int | None:
        """Move `events` (the slot's unpublished ones, oldest first) to the backlog; the version they
        reach, or None if they could not be moved (they stay in the outbox, and are moved again)."""
        if self.backlog is None:
            return None
        try:
            self.backlog.add(eventbridge.entries(slot, events, self.settings.delay_reduction_percent))
        except DependencyUnavailable as exc:
            log.warning("events of slot %s not moved to the backlog: %s", slot.slot_id, exc.message)
            return None
        return events[-1].slot_version

    def _record(self, marks: dict[str, int]) -> None:
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:  # only costs a second publication by the relay
            log.warning("relay markers not recorded: %s", exc.message)

    def publish_new(self, slots: list[Slot]) -> None:
        """New slots' events (SlotCreated), published together after their insert; their relay markers in one script."""
        if time.monotonic() < self._paused_until:
            return
        marks, _ = self._publish({slot.slot_id: (slot, list(slot.outbox)) for slot in slots}, quietly=True)
        self._record(marks)

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
        an event twice, with the same eventId. The event backlog goes first, oldest first.
        """
        if self.publisher is None:
            raise DependencyUnavailable("events", "no event bus is configured (EVENT_BUS_NAME)")

        def out_of_time() -> bool:
            return time_left is not None and time_left() < reserve_s

        from_backlog, drained = self._drain_backlog(out_of_time, batch_size)
        totals = [from_backlog, 0, 0, 0]  # published, slots, pruned, left pending
        batch: list[Slot] = []

        def report(finished: bool) -> RelayReport:
            return RelayReport(totals[0], totals[1], totals[2], totals[3], finished, from_backlog)

        if not drained:
            return report(finished=False)
        for slot in self.store.slots_with_events(batch_size):
            if not batch and out_of_time():
                return report(finished=False)
            batch.append(slot)
            if len(batch) == batch_size:
                totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
                batch = []
        if batch:
            totals = [a + b for a, b in zip(totals, self._relay_batch(batch), strict=True)]
        return report(finished=True)

    def _drain_backlog(self, out_of_time: Callable[[], bool], batch_size: int) -> tuple[int, bool]:
        """Publish the backlog, oldest first, a batch at a time, forgetting what the bus took. Returns
        how many it published, and whether the backlog is empty (False: out of time, or the bus
        refused a whole batch). Raises when the bus cannot be reached, as the outboxes' relay does."""
        if self.backlog is None or self.publisher is None:
            return 0, True
        published = 0
        while entries := self.backlog.oldest(batch_size):
            if out_of_time():
                return published, False
            done = self.publisher.publish(entries)
            self.backlog.remove(done)
            published += len(done)
            if not done:
                return published, False
        return published, True

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
