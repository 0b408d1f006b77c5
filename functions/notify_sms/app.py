"""The SMS notifier: an EventBridge rule on the bus delivers the events that tell a patient something.

At most one SMS per event and phone, however often the event comes (a Redis claim per pair), and
none beyond the month's spend limit: see `opd.sms`. A send that fails fails the invocation, so
Lambda retries it (twice) and then puts the event in the dead-letter queue; the phones already
sent to are not sent to again.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from opd import runtime
from opd.api.observability import count_cold_start
from opd.dayreports import SMS_COUNTS, DaySmsCounter
from opd.doctors import DoctorNames
from opd.errors import DependencyUnavailable
from opd.service import utc_now
from opd.settings import current as settings
from opd.sms import Notified, RedisSmsLedger, SmsNotifier, SmsNotSent, sns_sender, spent_percent

config = settings()
logger = Logger(service=config.service_name, level=config.log_level)
tracer = Tracer(service=config.service_name)
metrics = Metrics(service=config.service_name, namespace=config.metrics_namespace)


@cache
def notifier() -> SmsNotifier:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    client = boto3.client("sns", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3}))
    doctors = DoctorNames(runtime.doctor_store())
    # The SMS sent about each doctor's day, for its daily report (`opd.dayreports`).
    days = DaySmsCounter(runtime.mongo_client()[runtime.settings().mongodb_database][SMS_COUNTS])
    return SmsNotifier(ledger(), sns_sender(client), runtime.settings(), utc_now, doctors, days.count)


@cache
def ledger() -> RedisSmsLedger:
    return RedisSmsLedger(runtime.redis_client())


def record(done: Notified, failed: int = 0) -> None:
    """The event's SMS as metrics; with the month's spend (SmsSpendPercent, the SmsSpendAlarm's) when it changed or
    stopped a send. The spend is a statistic: Redis away for its read costs the metric, never the event."""
    metrics.add_metric(name="SmsSent", unit=MetricUnit.Count, value=done.sent)
    metrics.add_metric(name="SmsDuplicates", unit=MetricUnit.Count, value=done.duplicates)
    metrics.add_metric(name="SmsCapped", unit=MetricUnit.Count, value=done.capped)
    metrics.add_metric(name="SmsFailed", unit=MetricUnit.Count, value=failed)
    if not (done.sent or done.capped):
        return
    try:
        spent = ledger().spent(utc_now().strftime("%Y-%m"))
    except DependencyUnavailable:
        return
    metrics.add_metric(name="SmsSpendPercent", unit=MetricUnit.Percent, value=spent_percent(spent, runtime.settings()))


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count_cold_start(context.function_name)
    detail = event.get("detail")
    event_id = detail.get("eventId") if isinstance(detail, dict) else None
    logger.append_keys(detail_type=event.get("detail-type"), event_id=event_id)
    try:
        done = notifier().notify(event)
    except SmsNotSent as failure:  # Lambda retries the event (twice), then the dead-letter queue keeps it
        record(failure.done, failure.failed)
        raise
    record(done)
    if done.capped:
        logger.warning("SMS spend limit reached: messages not sent", capped=done.capped)
    return {"sent": done.sent, "duplicates": done.duplicates, "capped": done.capped}
