"""The publisher as quick as can be, for tests on real servers that look at the bus right after a change.

In the stack the publisher (functions/publish_events) takes handed-off events off a Redis list as they come;
here the lock publishes them itself right after the release that handed them off, from a list of the
test's own (tests sharing a Redis server never take each other's).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol, cast

import redis

from opd.errors import DependencyUnavailable
from opd.handoff import HandedOff, HandOffQueue
from opd.lock import SlotLock
from opd.service import Allocator


class PublishingLock(SlotLock):
    """A SlotLock whose releases' handed-off events go to `publish` at once (`publish_at_once` sets it)."""

    def __init__(self, client: redis.Redis, **options: Any) -> None:
        options.setdefault("hand_off_key", f"events:handed-off:{uuid.uuid4().hex}")
        super().__init__(client, **options)
        self.queue = HandOffQueue(client, key=self.hand_off_key, linger_s=0)
        self.publish: Callable[[list[HandedOff]], object] | None = None

    def release_quietly(self, slot_id: str, owner: str, hand_off: str | None = None) -> None:
        super().release_quietly(slot_id, owner, hand_off)
        if hand_off is not None and self.publish is not None:
            try:
                handed = self.queue.take(1_000, 0)
            except DependencyUnavailable:  # Redis is away: the events wait in the outbox for the relay
                return
            self.publish(handed)


class PublishesAtOnce(Protocol):
    """A lock that gives its releases' handed-off events to `publish`: PublishingLock, the fakes' FakeSlotLock."""

    publish: Callable[[list[HandedOff]], object] | None


def publish_at_once[A: Allocator[Any, Any]](allocator: A) -> A:
    """`allocator`, whose changes' events its publisher puts on the bus as each release hands them off (its lock a
    PublishingLock, or in the unit tests a FakeSlotLock)."""
    lock = allocator.lock
    assert hasattr(lock, "publish"), "give the allocator a PublishingLock or a FakeSlotLock"
    cast(PublishesAtOnce, lock).publish = allocator.relay.publish_handed_off
    return allocator
