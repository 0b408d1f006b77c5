"""The hand-off: a written change's events, given to the publisher by the script that lets go of the slot.

A request used to put its own events on the bus after its write: a PutEvents (10-30 ms of waiting in AWS,
a third of a booking's CPU on this machine) and one more script to record it in the relay marker. Now the
script that releases the slot's lock also pushes the change's events, rendered, onto one Redis list (no
round trip of its own), and the publisher (functions/publish_events) takes them off in batches, puts them
on the bus ten to a PutEvents, and records the relay markers. The slot's outbox keeps every event until a
marker says it is out, so whatever the hand-off loses (Redis gone at the release, a publisher that died
holding a batch, a bus that refused it) the scheduled relay still publishes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from opd.domain import Relayed
from opd.eventbridge import Entry

if TYPE_CHECKING:  # the route handlers import this module, and redis only when they first lock a slot
    import redis

log = logging.getLogger(__name__)

HAND_OFF_KEY = "events:handed-off"  # one list for every slot: the publisher takes from its head
# The most changes the list keeps (a few KB each): with the publisher stopped, Redis holds at most some
# tens of MB of them, the newest; the older are still in their slots' outboxes for the relay.
HAND_OFF_MAX = 20_000
# Once the first change of a batch is there, the publisher lets more arrive for this long: in a rush that
# fills PutEvents' ten entries, and an SMS waits 20 ms more.
LINGER_S = 0.02


@dataclass(frozen=True)
class HandedOff:
    """One written change's events, and what its publication tells the slot's relay marker."""

    slot_id: str
    version: int
    # Nothing older of the slot waited when this change was written: once these are out, all is out
    # through `version` (a change without events says just that).
    nothing_older: bool
    entries: tuple[Entry, ...]

    def relayed(self) -> Relayed:
        return Relayed(through=self.version) if self.nothing_older else Relayed(versions=frozenset({self.version}))

    def encode(self) -> str:
        return json.dumps(
            {
                "slot": self.slot_id,
                "version": self.version,
                "nothingOlder": self.nothing_older,
                "entries": [[e.event_id, e.detail_type, e.detail, e.time.isoformat()] for e in self.entries],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def decode(raw: bytes | str) -> HandedOff | None:
        """The change as handed off; None for what cannot be read (its events are still in the outbox)."""
        try:
            item: dict[str, Any] = json.loads(raw)
            entries = tuple(
                Entry(str(event_id), str(kind), str(detail), datetime.fromisoformat(at))
                for event_id, kind, detail, at in item["entries"]
            )
            return HandedOff(str(item["slot"]), int(item["version"]), bool(item["nothingOlder"]), entries)
        except (ValueError, TypeError, KeyError) as exc:
            log.error("a handed-off change could not be read, the relay publishes it: %s", exc)
            return None


class HandOffQueue:
    """The publisher's end of the list. Its client's socket waits longer than its longest BLPOP, so an idle
    publisher sends a command every few seconds, not hundreds (Upstash bills per command)."""

    def __init__(self, client: redis.Redis, key: str = HAND_OFF_KEY, linger_s: float = LINGER_S) -> None:
        self.client = client
        self.key = key
        self.linger_s = linger_s

    def take(self, limit: int, wait_s: float) -> list[HandedOff]:
        """Up to `limit` changes, oldest first, waiting up to `wait_s` for the first (0: not at all); [] if none."""
        from opd.redisconn import redis_errors

        with redis_errors():
            if wait_s <= 0:
                taken = cast(list[bytes] | None, self.client.lpop(self.key, limit)) or []
            elif (first := self.client.blpop([self.key], timeout=wait_s)) is None:
                return []
            else:
                time.sleep(self.linger_s)
                rest = cast(list[bytes] | None, self.client.lpop(self.key, limit - 1)) if limit > 1 else None
                taken = [cast(tuple[bytes, bytes], first)[1], *(rest or [])]
        return [change for raw in taken if (change := HandedOff.decode(raw)) is not None]
