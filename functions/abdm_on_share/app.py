"""The on-share consumer: SQS (AbdmOnShareQueue) delivers the callbacks owed to the ABDM gateway, a batch at a time.

Each message is one share's on-share (`opd.abdm.onshare.OnShareSender`: the counter's record says what to send, the
gateway is called with a session token, the callback is recorded as sent). Powertools' batch processing reports the
messages that failed (`ReportBatchItemFailures`): SQS deletes the others and keeps those, each made visible again
after its own backoff (2 s, 4 s, 8 s ... of its receive count, `opd.domain.abdm.retry_delay_s`) rather than the
queue's visibility timeout; after the queue's maxReceiveCount receives a message waits in the dead-letter queue, and
the sweeper queues what is still owed again (`opd.abdm.onshare.resend_owed`). A message not begun
`STOP_BEFORE_MS` before the function's timeout is reported failed untried: it comes back at once, whole.

No log line carries a message's body (it names the patient's ABHA address): counts and error kinds only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from opd import runtime
from opd.abdm.onshare import Delivered
from opd.abdm.queue import Receipt
from opd.api.observability import count_cold_start
from opd.settings import current as settings

# The settings are read here, at import: a bad environment fails the cold start.
config = settings()
logger = Logger(service=config.service_name, level=config.log_level)
tracer = Tracer(service=config.service_name)
metrics = Metrics(service=config.service_name, namespace=config.metrics_namespace)
# Not every record failing raises: each failed message is reported, and made visible again after its backoff.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
STOP_BEFORE_MS = 12_000  # a callback is at most two gateway calls of 5 s each (a session, the on-share)
METRIC_OF = {Delivered.SENT: "OnSharesSent", Delivered.ALREADY_SENT: "OnSharesSentBefore", Delivered.UNREADABLE: ""}


class OutOfTime(Exception):
    """Too close to the function's timeout to begin another callback: it is tried again, at once."""


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    if lambda_context.get_remaining_time_in_millis() < STOP_BEFORE_MS:
        raise OutOfTime("left for the next try: too close to the timeout")
    delivered = runtime.on_share_sender().deliver(record.body)
    if metric := METRIC_OF[delivered]:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return delivered.value


def retry_later(records: list[dict[str, Any]], failed: set[str]) -> None:
    """Each failed message's visibility set to its backoff; if that fails, the queue's visibility timeout it is."""
    queue = runtime.abdm_on_share_queue()
    receipts = [
        Receipt(record["receiptHandle"], int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)))
        for record in records
        if record.get("messageId") in failed
    ]
    if queue is None or not receipts:
        return
    try:
        queue.retry_later(receipts)
    except Exception as lost:  # botocore's: the messages come back after the queue's visibility timeout instead
        logger.warning("on-shares' backoff not set", reason=type(lost).__name__)


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(log_event=False)  # never the event: its bodies name patients' ABHA addresses
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count_cold_start(context.function_name)
    answer = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    failed = {str(item["itemIdentifier"]) for item in answer.get("batchItemFailures", [])}
    # Every batch, 0 too: the dashboard's line is then a measured 0, not a gap (OnShareFailuresAlarm sums it).
    metrics.add_metric(name="OnSharesFailed", unit=MetricUnit.Count, value=len(failed))
    if failed:
        reasons = sorted({type(error).__name__ for _, error, _ in processor.exceptions if error is not None})
        logger.warning("on-shares left for a later try", failed=len(failed), reasons=reasons)
        retry_later(list(event.get("Records") or []), failed)
    return dict(answer)
