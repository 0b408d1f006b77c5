"""Events: handed off with the release of the slot's lock, published by the publisher, and by the relay
for whatever that missed.

Every change carries its events in the slot's outbox (`domain.with_events`), written with it. The
script that lets go of the slot's lock hands the change's events to the publisher (`opd.handoff`):
the request neither waits for the bus nor records anything more. The publisher
(`EventRelay.publish_handed_off`) puts them on the bus in batches and records, in the slot's relay
marker (one Redis script), what the bus took; the next writer's lock brings the marker back, so its
write drops those events from the outbox. A bus that fails never refuses a change: past
`domain.SPILL_AT` unpublished events, the request moves them to the event backlog (`opd.backlog`)
and marks them as published, so the slot's document stays bounded however long the bus is away.
The scheduled relay (`relay_events`) publishes the backlog and whatever the hand-off lost: a bus
that failed, Redis gone at a release, a publisher that stopped holding a batch. A request that
writes many slots (a leave) and a session's new slots publish their events themselves, in batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from opd import domain, eventbridge
from opd.domain import Event, Relayed, Slot
from opd.errors import DependencyUnavailable
from opd.handoff import HandedOff
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
        self._paused_until = 0.0  # time.monotonic() until which publishing is left to the relay (the bus failed)

    def hand_off(self, written: Slot) -> str | None:
        """The written change's events as the release of the lock hands them to the publisher; None without
        a bus (they wait in the outbox for the relay).

        Only this change's own: on a hot slot the next writer is often handing off before the publisher has
        recorded anything, and handing off the whole outbox would send its predecessors' events again."""
        if self.publisher is None:
            return None
        own = [e for e in written.outbox if e.slot_version == written.version]
        older = any(e.slot_version < written.version for e in written.outbox)
        entries = eventbridge.entries(written, own, self.settings.delay_reduction_percent)
        return HandedOff(written.slot_id, written.version, not older, tuple(entries)).encode()

    def spill_written(self, written: Slot) -> None:
        """After the release: when the slot's unpublished events reach SPILL_AT (the bus is away), move them
        all to the backlog and mark them, so the next write drops them from the document."""
        news = self._spilled(written, Relayed())
        if news != Relayed():
            self._record({written.slot_id: news})

    def publish_handed_off(self, changes: Sequence[HandedOff]) -> int:
        """Put handed-off changes' events on the bus, ten to a PutEvents, and add to the relay markers what
        it took: a change counts once every event of it is out. How many events the bus took. Never raises:
        what the bus did not take waits in the slots' outboxes for the relay. After the bus failed, changes
        are let go unpublished for PUBLISH_PAUSE_S: the hand-off list stays short however long the bus is
        away (the outboxes, and past SPILL_AT the backlog, keep the events)."""
        if self.publisher is None or not changes or time.monotonic() < self._paused_until:
            return 0
        try:
            done = self.publisher.publish([entry for change in changes for entry in change.entries])
        except Exception as exc:  # whatever the bus's client raises
            self._paused_until = time.monotonic() + PUBLISH_PAUSE_S
            log.warning("handed-off events not published, the relay will: %s: %s", type(exc).__name__, exc)
            return 0
        marks: dict[str, Relayed] = {}
        for change in changes:
            if all(entry.event_id in done for entry in change.entries):
                marks[change.slot_id] = marks.get(change.slot_id, Relayed()).merged(change.relayed())
        self._record(marks)
        return len(done)

    def listen(
        self,
        take: Callable[[int, float], list[HandedOff]],
        time_left: Callable[[], float],
        reserve_s: float = 3.0,
        batch_size: int = 50,
        max_wait_s: float = 20.0,
    ) -> int:
        """The publisher: take handed-off changes as they come and publish them, until `time_left()` is down
        to `reserve_s`. How many events it published. Never raises: what it could not publish, the relay does."""
        published = 0
        while (left := time_left() - reserve_s) > 0:
            try:
                changes = take(batch_size, min(left, max_wait_s))
            except DependencyUnavailable as exc:
                log.warning("handed-off events not read, the relay publishes them: %s", exc.message)
                time.sleep(min(1.0, max(left, 0.0)))
                continue
            published += self.publish_handed_off(changes)
        return published

    @contextmanager
    def publishing(self) -> Iterator[Callable[[Slot], None]]:
        """Publishing for a request that writes many slots (a leave's day), given to its writes.

        Each slot as written is published at once in the background, PUBLISH_THREADS slots at a time,
        while the request writes the next; on leaving, whatever happened, the publications are waited
        for, events past SPILL_AT are moved to the backlog, and every relay marker is added to in one
        script. The first slot is published on the request's thread: it makes the bus's client (boto3
        makes none safely in two threads at once), and a bus that fails it pauses publishing before
        the others try. Never fails: what is not published stays for the relay."""
        from concurrent.futures import Future, ThreadPoolExecutor  # only a request that writes many slots

        written: list[Slot] = []
        done: list[Relayed | Future[Relayed]] = []
        pool = ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="publish")

        def publish(slot: Slot) -> None:
            done.append(pool.submit(self._publish_own, slot) if written else self._publish_own(slot))
            written.append(slot)

        try:
            yield publish
        finally:
            pool.shutdown(wait=True)
            marks = {}
            for slot, news in zip(written, done, strict=True):
                marks[slot.slot_id] = self._spilled(slot, news if isinstance(news, Relayed) else news.result())
            self._record({slot_id: news for slot_id, news in marks.items() if news != Relayed()})

    def _publish_own(self, slot: Slot) -> Relayed:
        """Publish the events of the change that wrote `slot` (unless the bus failed lately): the marker's news."""
        own = [e for e in slot.outbox if e.slot_version == slot.version]
        if own and (time.monotonic() < self._paused_until or not self._publish({slot.slot_id: (slot, own)}, True)[0]):
            return Relayed()
        if any(e.slot_version < slot.version for e in slot.outbox):
            return Relayed(versions=frozenset({slot.version}))  # older ones still wait: listed above them
        # Nothing older waits (what the write dropped was published): through this version, all is out.
        # A change without events counts too, so the marker's `through` climbs over it.
        return Relayed(through=slot.version)

    def _spilled(self, slot: Slot, news: Relayed) -> Relayed:
        """`news`, or, when the slot's unpublished events reach SPILL_AT, all of them moved to the backlog."""
        left = news.unpublished(slot.outbox)
        if len(left) >= domain.SPILL_AT and self._spill(slot, left):
            # Every event of a version up to this one is now published, moved, or was dropped as published.
            return Relayed(through=slot.version)
        return news

    def _spill(self, slot: Slot, events: list[Event]) -> bool:
        """Move `events` (the slot's unpublished ones, oldest first) to the backlog; False if they could
        not be moved (they stay in the outbox, and are moved again)."""
        if self.backlog is None:
            return False
        try:
            self.backlog.add(eventbridge.entries(slot, events, self.settings.delay_reduction_percent))
        except DependencyUnavailable as exc:
            log.warning("events of slot %s not moved to the backlog: %s", slot.slot_id, exc.message)
            return False
        return True

    def _record(self, marks: dict[str, Relayed]) -> None:
        try:
            self.lock.record_published(marks)
        except DependencyUnavailable as exc:  # only costs a second publication by the relay
            log.warning("relay markers not recorded: %s", exc.message)

    def publish_new(self, slots: list[Slot]) -> None:
        """New slots' events (SlotCreated), published together after their insert; their relay markers in one script."""
        if time.monotonic() < self._paused_until:
            return
        marks, _ = self._publish({slot.slot_id: (slot, list(slot.outbox)) for slot in slots}, quietly=True)
        self._record({slot_id: Relayed(through=through) for slot_id, through in marks.items()})

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

        since: list[datetime] = []  # when the oldest unpublished change of the backlog, and of each batch, happened
        from_backlog, drained = self._drain_backlog(out_of_time, batch_size, since)
        totals = [from_backlog, 0, 0, 0]  # published, slots, pruned, left pending
        batch: list[Slot] = []

        def report(finished: bool) -> RelayReport:
            oldest = min(since, default=None)
            return RelayReport(totals[0], totals[1], totals[2], totals[3], finished, from_backlog, oldest)

        if not drained:
            return report(finished=False)
        for slot in self.store.slots_with_events(batch_size):
            if not batch and out_of_time():
                return report(finished=False)
            batch.append(slot)
            if len(batch) == batch_size:
                totals = [a + b for a, b in zip(totals, self._relay_batch(batch, since), strict=True)]
                batch = []
        if batch:
            totals = [a + b for a, b in zip(totals, self._relay_batch(batch, since), strict=True)]
        return report(finished=True)

    def _drain_backlog(
        self, out_of_time: Callable[[], bool], batch_size: int, since: list[datetime]
    ) -> tuple[int, bool]:
        """Publish the backlog, oldest first, a batch at a time, forgetting what the bus took. Returns
        how many it published, and whether the backlog is empty (False: out of time, or the bus
        refused a whole batch). Raises when the bus cannot be reached, as the outboxes' relay does.
        The time of its oldest entry goes into `since`."""
        if self.backlog is None or self.publisher is None:
            return 0, True
        published = 0
        while entries := self.backlog.oldest(batch_size):
            if not published:  # the first batch (a batch the bus took none of ends the loop): its first is the oldest
                since.append(entries[0].time)
            if out_of_time():
                return published, False
            done = self.publisher.publish(entries)
            self.backlog.remove(done)
            published += len(done)
            if not done:
                return published, False
        return published, True

    def _relay_batch(self, batch: list[Slot], since: list[datetime]) -> tuple[int, int, int, int]:
        try:
            known = self.lock.published_marks([slot.slot_id for slot in batch])
        except DependencyUnavailable as exc:  # without markers, every event in the outboxes goes (again)
            log.warning("relay markers not read, publishing every outbox event: %s", exc.message)
            known = {}
        waiting = {slot.slot_id: (slot, known.get(slot.slot_id, Relayed()).unpublished(slot.outbox)) for slot in batch}
        since.extend(min(e.occurred_at for e in events) for _, events in waiting.values() if events)
        # Through a version, every event is now published: before (the marker) or just now.
        found, published = self._publish(waiting)
        marks = {slot_id: Relayed(through=through) for slot_id, through in found.items()}
        self._record(marks)
        pruned = 0
        for slot in batch:
            relayed = known.get(slot.slot_id, Relayed()).merged(marks.get(slot.slot_id, Relayed()))
            if any(relayed.covers(e.slot_version) for e in slot.outbox):
                try:
                    pruned += int(self.store.prune_outbox(slot, relayed))
                except DependencyUnavailable as exc:  # the next run, or the slot's next writer, prunes
                    log.warning("outbox of slot %s not pruned: %s", slot.slot_id, exc.message)
        left = sum(len(events) for _, events in waiting.values()) - published
        return published, len(batch), pruned, max(0, left)
