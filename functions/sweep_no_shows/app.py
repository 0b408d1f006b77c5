"""Scheduled no-show sweeper: BOOKED bookings of slots past start + grace become NO_SHOW.

First it finishes the reschedules that requests left half done (or abandons those the target
refuses), so that a patient never keeps two places, or none, for one reschedule.

EventBridge Scheduler runs it every 5 minutes on the real clock. Only the local runner's
POST /_local/sweep passes a top-level "now" to sweep as of another instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from opd import runtime
from opd.api.bounds import Window
from opd.settings import current as settings

# The settings are read here, at import: a bad environment fails the cold start.
config = settings()
logger = Logger(service=config.service_name, level=config.log_level)
tracer = Tracer(service=config.service_name)
# The template sets the namespace; the settings' default keeps a local run without it from failing at flush.
metrics = Metrics(service=config.service_name, namespace=config.metrics_namespace)


def sweep_time(event: dict[str, Any]) -> datetime | None:
    """The event's explicit "now" (ISO 8601 with an offset), or None for the real clock."""
    raw = event.get("now")
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        at = None
    if at is None or at.utcoffset() is None:
        raise ValueError(f'"now" must be an ISO 8601 time with an offset, e.g. 2026-11-21T09:30:00+05:30; got {raw!r}')
    return at


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(scheduled_time=event.get("scheduledTime"), execution_id=event.get("executionId"))
    now = sweep_time(event)  # text that is no time fails before anything connects
    service = runtime.allocator()
    # A "now" far out (year 1, year 9999) would overflow the sweep's own arithmetic.
    if now is not None and not (window := Window.around(service.clock(), service.settings.clinic_zone)).contains(now):
        raise ValueError(f'"now" {window.problem()}; got {now.isoformat()}')
    report = service.sweep_no_shows(now=now, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="NoShowsMarked", unit=MetricUnit.Count, value=report.marked)
    metrics.add_metric(name="SlotsSwept", unit=MetricUnit.Count, value=report.slots)
    metrics.add_metric(name="SlotsBusy", unit=MetricUnit.Count, value=report.busy)
    metrics.add_metric(name="SweepFinished", unit=MetricUnit.Count, value=int(report.finished))
    metrics.add_metric(name="MovesFinished", unit=MetricUnit.Count, value=report.reschedules_finished)
    metrics.add_metric(name="MovesAbandoned", unit=MetricUnit.Count, value=report.reschedules_abandoned)
    result = {
        "marked": report.marked,
        "slots": report.slots,
        "busy": report.busy,
        "finished": report.finished,
        "movesFinished": report.reschedules_finished,
        "movesAbandoned": report.reschedules_abandoned,
    }
    if report.finished:
        logger.info("no-show sweep done", extra=result)
    else:
        logger.warning("no-show sweep stopped before its deadline; the next run continues", extra=result)
    return result
