"""The publisher: puts the events requests hand off with their lock's release on the bus, as they come.

Started every minute, it waits on the hand-off list (`opd.handoff`) and publishes each batch the moment
it arrives, until a few seconds before its timeout; the next run takes over. Requests never wait for the
bus. What it misses (it was not running, the bus refused, Redis was away) the relay publishes from the
slots' outboxes. See `EventRelay.listen`.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from opd import runtime
from opd.api.observability import count_cold_start
from opd.handoff import HandedOff
from opd.settings import current as settings

# The settings are read here, at import: a bad environment fails the cold start.
config = settings()
logger = Logger(service=config.service_name, level=config.log_level)
tracer = Tracer(service=config.service_name)
metrics = Metrics(service=config.service_name, namespace=config.metrics_namespace)


# A run lasts a minute: its metrics (EventsPublished) are flushed at least this often, not only at its end, so
# the dashboard shows publications when they happen; a run with nothing to say writes no metric line at all.
FLUSH_EVERY_S = 10.0


def flush_metrics() -> None:
    if metrics.metric_set:
        metrics.flush_metrics()


@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count_cold_start(context.function_name)
    queue = runtime.hand_off_queue()
    flushed_at = time.monotonic()

    def take(limit: int, wait_s: float) -> list[HandedOff]:
        nonlocal flushed_at
        if time.monotonic() - flushed_at >= FLUSH_EVERY_S:
            flush_metrics()
            flushed_at = time.monotonic()
        return queue.take(limit, min(wait_s, FLUSH_EVERY_S))

    try:
        published = runtime.allocator().relay.listen(
            take, time_left=lambda: context.get_remaining_time_in_millis() / 1000
        )
    finally:
        flush_metrics()
    logger.info("publisher done", extra={"published": published})
    return {"published": published}
