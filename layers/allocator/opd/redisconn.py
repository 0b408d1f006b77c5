"""The Redis client, as the lock and the SMS ledger use it: made once per environment, its failures one error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from opd.errors import DependencyUnavailable


def connect(url: str, timeout_s: float = 0.5, connect_timeout_s: float = 1.0) -> redis.Redis:
    """One client per execution environment; `rediss://` URLs (Upstash) get TLS from redis-py.

    A healthy Redis answers in milliseconds, so half a second without a reply means it is stalled
    or gone: the request gives up (503), cleans up what it can, and never holds its caller longer
    than about a second per command. A timed-out command is not retried (during a stall that only
    queues more commands); a dropped connection is retried once, as a Lambda's connection may have
    been closed while it was frozen. Every command here is safe to send twice.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=connect_timeout_s,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise DependencyUnavailable("redis", f"Redis unreachable: {type(exc).__name__}") from exc
