"""Redis mutex per doctor slot: `SET lock:slot:<id> <owner> NX PX <ttl>`.

The lock keeps writers of one slot in single file so nearly every request decides on its first
try. It is not what keeps the counts right: the store's version-conditional write does that, so a
holder that stalls past the TTL can lose the lock without any harm but a retry.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from opd.errors import DependencyUnavailable, SlotBusy

# Delete the key only while it still holds our owner token: never release someone else's lock.
RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def connect(url: str, timeout_s: float = 1.0) -> redis.Redis:
    """One client per execution environment; `rediss://` URLs (Upstash) get TLS from redis-py."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise DependencyUnavailable("redis", f"Redis unreachable: {type(exc).__name__}") from exc


class SlotLock:
    def __init__(
        self,
        client: redis.Redis,
        ttl_ms: int = 2000,
        wait_ms: int = 300,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        observe_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self.observe_wait = observe_wait  # told each acquisition's wait in ms (the LockWaitMs metric)
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self._sleep = sleep
        self._clock = clock

    @staticmethod
    def key(slot_id: str) -> str:
        return f"lock:slot:{slot_id}"

    def acquire(self, slot_id: str) -> str:
        """Return the owner token, waiting with jittered retries for at most `wait_ms`."""
        key, owner = self.key(slot_id), secrets.token_hex(16)
        began = self._clock()
        give_up_at = began + self.wait_ms / 1000
        pause = 0.002
        while True:
            with redis_errors():
                if self.client.set(key, owner, nx=True, px=self.ttl_ms):
                    if self.observe_wait is not None:
                        self.observe_wait((self._clock() - began) * 1000)
                    return owner
            if self._clock() >= give_up_at:
                # A holder finishes in milliseconds or its lock expires within the TTL.
                raise SlotBusy(f"slot {slot_id} is busy, try again", retry_after_seconds=1)
            # Jitter keeps waiting requests from retrying in lockstep.
            self._sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, 0.02)

    def release(self, slot_id: str, owner: str) -> bool:
        with redis_errors():
            return bool(self.client.eval(RELEASE_IF_OWNER, 1, self.key(slot_id), owner))

    @contextmanager
    def held(self, slot_id: str) -> Iterator[None]:
        owner = self.acquire(slot_id)
        try:
            yield
        finally:
            # The work is done or refused already; if Redis is gone, the lock expires by its TTL.
            with contextlib.suppress(DependencyUnavailable):
                self.release(slot_id, owner)
