"""Count network round trips to Redis and MongoDB, by command, for the round-trip benchmark and test.

MongoDB: pymongo's command monitoring sees every command sent. Redis: a client whose
`execute_command` counts before sending (the lock uses no pipelines, so one command is one trip).
Given one `Trail`, both also write down every trip in the order sent, the lock's own scripts
named, so a reader can tell which trips were made while the slot's lock was held (`held`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis
from pymongo import monitoring

from opd import lock

# The lock's scripts, by the text a client sends: what a trail names them.
SCRIPTS = {lock.ACQUIRE: "lock", lock.RELEASE_IF_OWNER: "release", lock.RECORD_PUBLISHED: "marker"}


class Trail(list[str]):
    """Round trips in the order they were sent, across Redis, MongoDB and the event bus."""

    def held(self) -> list[str]:
        """The trips from the lock's acquisition to its release, both included (the last hold in the trail)."""
        if "redis eval (lock)" not in self or "redis eval (release)" not in self:
            return []
        start = len(self) - 1 - self[::-1].index("redis eval (lock)")
        return self[start : self.index("redis eval (release)", start) + 1]


class MongoCommandCounter(monitoring.CommandListener):
    def __init__(self, trail: Trail | None = None) -> None:
        self.commands: Counter[str] = Counter()
        self.trail = trail

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands[f"mongo {event.command_name}"] += 1
        if self.trail is not None:
            self.trail.append(f"mongo {event.command_name}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class CountingRedis(redis.Redis):
    """A redis-py client that tallies each command it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: Counter[str] = Counter()
        self.trail: Trail | None = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        command = f"redis {str(args[0]).lower()}"
        self.commands[command] += 1
        if self.trail is not None:
            script = SCRIPTS.get(str(args[1])) if command == "redis eval" and len(args) > 1 else None
            self.trail.append(f"{command} ({script})" if script else command)
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def combined(*counters: Counter[str]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total
