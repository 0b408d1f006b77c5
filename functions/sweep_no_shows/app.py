"""Scheduled no-show sweeper: BOOKED bookings of slots past start + grace become NO_SHOW.

First it finishes the reschedules that requests left half done (or abandons those the target
refuses), so that a patient never keeps two places, or none, for one reschedule. Then, once the
slots are done, the registration counters' days before today are closed: their WAITING and CALLED
tokens become EXPIRED (`counterTokensExpired`; a read after the day already shows them so). Last,
the ABDM on-share callbacks still owed two minutes after their share are queued again (`onSharesResent`). And every
doctor's day that is over gets its daily report, once (`opd.service.daily`); with {"backfill": {"from", "to"}} it
writes the reports missing for those past days instead of sweeping.

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
from opd.abdm.onshare import resend_owed
from opd.api.bounds import Window
from opd.api.observability import count_cold_start
from opd.errors import DependencyUnavailable
from opd.service.daily import backfill_days
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


def resend_on_shares(now: datetime) -> int:
    """ABDM on-shares still owed 2 minutes after their share (a SendMessage lost, a message in the dead-letter
    queue), queued again (`opd.abdm.onshare.resend_owed`); none where there is no queue. Never fails the sweep."""
    queue = runtime.abdm_on_share_queue()
    if queue is None:
        return 0
    try:
        return resend_owed(runtime.counter_desk(), queue, now)
    except Exception as lost:  # SQS or MongoDB away: the next run, 5 minutes later, sends them
        logger.warning("ABDM on-shares not queued again; the next run does", reason=type(lost).__name__)
        return 0


def report_days(now: datetime, context: LambdaContext) -> int:
    """The daily report of every doctor's day that is over, written once (`opd.service.daily`). Never fails the sweep:
    a day left unwritten (MongoDB away, no time left) is written by the next run."""
    try:
        days = runtime.day_reporter().finish_days(now, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    except DependencyUnavailable as lost:
        logger.warning("day reports not written; the next run does", reason=lost.message)
        return 0
    metrics.add_metric(name="DayReportsWritten", unit=MetricUnit.Count, value=days.written)
    if days.written or not days.finished:
        logger.info("day reports", written=days.written, pending=days.pending, finished=days.finished)
    return days.written


def backfill(asked: Any, now: datetime | None, context: LambdaContext) -> dict[str, Any]:
    """`{"backfill": {"from"?, "to"?}}` (`make backfill-reports`): the day reports missing for past days, written
    instead of a sweep. A run stopped by its deadline answers `resumeFrom`: the same event from that date goes on."""
    service = runtime.allocator()
    at = now or service.clock()
    first, last = backfill_days(asked, at.astimezone(service.settings.clinic_zone).date())
    done = runtime.day_reporter().backfill(
        first, last, at, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    metrics.add_metric(name="DayReportsWritten", unit=MetricUnit.Count, value=done.written)
    resume = None if done.resume_from is None else done.resume_from.isoformat()
    result = {"written": done.written, "pending": done.pending, "finished": done.finished, "resumeFrom": resume}
    logger.info("day reports backfilled", extra={"from": first.isoformat(), "to": last.isoformat(), **result})
    return result


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count_cold_start(context.function_name)
    logger.append_keys(scheduled_time=event.get("scheduledTime"), execution_id=event.get("executionId"))
    now = sweep_time(event)  # text that is no time fails before anything connects
    service = runtime.allocator()
    # A "now" far out (year 1, year 9999) would overflow the sweep's own arithmetic.
    if now is not None and not (window := Window.around(service.clock(), service.settings.clinic_zone)).contains(now):
        raise ValueError(f'"now" {window.problem()}; got {now.isoformat()}')
    if "backfill" in event:
        return backfill(event["backfill"], now, context)
    report = service.sweep_no_shows(now=now, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    # Counters' days only after a finished sweep: a run out of time leaves them, few and cheap, to the next one.
    today = (now or service.clock()).astimezone(service.settings.clinic_zone).date()
    expired = runtime.counter_desk().close_days(today) if report.finished else 0
    resent = resend_on_shares(service.clock())  # the gateway's clock is the real one, whatever "now" says
    report_days(now or service.clock(), context)
    metrics.add_metric(name="NoShowsMarked", unit=MetricUnit.Count, value=report.marked)
    metrics.add_metric(name="SlotsSwept", unit=MetricUnit.Count, value=report.slots)
    metrics.add_metric(name="SlotsBusy", unit=MetricUnit.Count, value=report.busy)
    metrics.add_metric(name="SweepFinished", unit=MetricUnit.Count, value=int(report.finished))
    metrics.add_metric(name="MovesFinished", unit=MetricUnit.Count, value=report.reschedules_finished)
    metrics.add_metric(name="MovesAbandoned", unit=MetricUnit.Count, value=report.reschedules_abandoned)
    metrics.add_metric(name="CounterTokensExpired", unit=MetricUnit.Count, value=expired)
    metrics.add_metric(name="OnSharesResent", unit=MetricUnit.Count, value=resent)
    # One a sweep that ran to here, finished or not: the alarm on its absence (SweeperSilentAlarm) says the schedule
    # stopped or every run fails. A backfill is not a sweep, and sends none.
    metrics.add_metric(name="SweeperHeartbeat", unit=MetricUnit.Count, value=1)
    result = {
        "marked": report.marked,
        "slots": report.slots,
        "busy": report.busy,
        "finished": report.finished,
        "movesFinished": report.reschedules_finished,
        "movesAbandoned": report.reschedules_abandoned,
        "counterTokensExpired": expired,  # POST /_local/sweep answers `marked` alone
        "onSharesResent": resent,
    }
    if report.finished:
        logger.info("no-show sweep done", extra=result)
    else:
        logger.warning("no-show sweep stopped before its deadline; the next run continues", extra=result)
    return result
