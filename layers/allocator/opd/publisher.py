"""EventBridge adapter: PutEvents on the stack's bus, 10 entries a request, entries it refused tried once more.

boto3 is imported with the first publication, not with the module, so a route handler's cold start
does not pay for it. Timeouts are short and botocore retries a throttled or dropped request once:
the request that publishes has already written its change, and anything not published here is
left in the outbox for the relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from opd.eventbridge import MAX_ENTRIES_PER_PUT, SOURCE, Entry

log = logging.getLogger(__name__)

# PutEvents takes at most 256 KB a request; our entries are a few KB, so 10 fit with room to spare.
MAX_REQUEST_BYTES = 250_000


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: Any = None, observe: Callable[[int], None] | None = None) -> None:
        self.bus_name = bus_name
        self.observe = observe  # told how many events each publication put on the bus (the EventsPublished metric)
        if client is not None:
            self.__dict__["client"] = client  # what `cached_property` would have made

    @cached_property
    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
        return boto3.client("events", config=config)

    def publish(self, entries: Sequence[Entry]) -> set[str]:
        """Put `entries` on the bus; the ids of those it took. Raises if the bus cannot be reached."""
        published: set[str] = set()
        for batch in _batches(entries):
            refused = self._put(batch, published)
            if refused:  # throttled or an internal failure: once more, then the relay's turn
                refused = self._put(refused, published)
            if refused:
                log.warning("EventBridge refused %d entries; the relay publishes them", len(refused))
        if self.observe is not None and published:
            self.observe(len(published))
        return published

    def _put(self, batch: Sequence[Entry], published: set[str]) -> list[Entry]:
        answer = self.client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": entry.detail_type,
                    "Detail": entry.detail,
                    "Time": entry.time,
                    "EventBusName": self.bus_name,
                }
                for entry in batch
            ]
        )
        refused = []
        # The answer's entries are in the request's order; an entry with an ErrorCode was not taken.
        for entry, result in zip(batch, answer.get("Entries", []), strict=False):
            if result.get("EventId") and not result.get("ErrorCode"):
                published.add(entry.event_id)
            else:
                refused.append(entry)
        return refused


def _batches(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Runs of at most 10 entries and MAX_REQUEST_BYTES, in order."""
    batches: list[list[Entry]] = []
    size = 0
    for entry in entries:
        weight = len(entry.detail.encode()) + len(entry.detail_type) + len(SOURCE)
        if not batches or len(batches[-1]) == MAX_ENTRIES_PER_PUT or size + weight > MAX_REQUEST_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += weight
    return batches
