"""A stand-in for EventBridge that keeps what it was given: for unit tests and the servers' tests alike."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from opd.eventbridge import Entry


class BusDown(RuntimeError):
    """What the fake raises while `down`: the bus cannot be reached at all."""


class RecordingPublisher:
    """Takes every entry (or refuses those `refuse` names, or all while `down`) and keeps them in order."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.calls = 0  # PutEvents requests, 10 entries at most each, as the real adapter sends them
        self.down = False
        self.refuse: set[str] = set()  # detail-types whose entries come back failed
        self._guard = threading.Lock()

    def publish(self, entries: Sequence[Entry]) -> set[str]:
        with self._guard:
            self.calls += (len(entries) + 9) // 10
            if self.down:
                raise BusDown("EventBridge unreachable")
            taken = [e for e in entries if e.detail_type not in self.refuse]
            self.entries.extend(taken)
            return {e.event_id for e in taken}

    @property
    def types(self) -> list[str]:
        return [e.detail_type for e in self.entries]

    def details(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(e.detail) for e in self.entries if detail_type in (None, e.detail_type)]
