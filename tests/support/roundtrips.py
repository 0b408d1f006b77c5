"""Count network round trips to Redis and MongoDB, by command, for the round-trip benchmark and test.

MongoDB: pymongo's command monitoring sees every command sent. Redis: a client whose
`execute_command` counts before sending (the lock uses no pipelines, so one command is one trip).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis
from pymongo import monitoring


class MongoCommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands[f"mongo {event.command_name}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class CountingRedis(redis.Redis):
    """A redis-py client that tallies each command it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: Counter[str] = Counter()

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands[f"redis {str(args[0]).lower()}"] += 1
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def combined(*counters: Counter[str]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total
