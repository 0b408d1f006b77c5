"""Scheduled event relay: every minute, publish what requests left unpublished, and prune the outboxes.

The publisher (functions/publish_events) puts a change's events on the bus as its request hands them off
with the slot's lock (normally within milliseconds); this run catches whatever that missed: the event
backlog a bus outage left (first, oldest first), a process that died between its write and its release,
a publisher that was not running, an event EventBridge refused. See `EventRelay.relay_events`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from opd import runtime
from opd.api.observability import count_cold_start
from opd.settings import current as settings

# The settings are read here, at import: a bad environment fails the cold start.
config = settings()
logger = Logger(service=config.service_name, level=config.log_level)
tracer = Tracer(service=config.service_name)
metrics = Metrics(service=config.service_name, namespace=config.metrics_namespace)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count_cold_start(context.function_name)
    logger.append_keys(scheduled_time=event.get("scheduledTime"), execution_id=event.get("executionId"))
    report = runtime.allocator().relay_events(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=report.published)
    metrics.add_metric(name="EventsPending", unit=MetricUnit.Count, value=report.pending)
    metrics.add_metric(name="OutboxesPruned", unit=MetricUnit.Count, value=report.pruned)
    metrics.add_metric(name="BacklogRelayed", unit=MetricUnit.Count, value=report.from_backlog)
    # How far behind publishing is: 0 when this run found nothing unpublished. Every run reports it, so the alarm on it
    # (template.yaml: UnpublishedEventsAlarm) also reads a relay that stopped reporting as behind.
    behind_s = 0.0 if report.oldest_found is None else (datetime.now(UTC) - report.oldest_found).total_seconds()
    metrics.add_metric(name="OldestUnpublishedEventAge", unit=MetricUnit.Seconds, value=round(max(0.0, behind_s), 1))
    result = {
        "published": report.published,
        "fromBacklog": report.from_backlog,
        "slots": report.slots,
        "pruned": report.pruned,
        "pending": report.pending,
        "finished": report.finished,
    }
    if report.pending or not report.finished:
        logger.warning("event relay left events for its next run", extra=result)
    else:
        logger.info("event relay done", extra=result)
    return result
