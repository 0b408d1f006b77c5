"""The stack's event bus and SMS on this machine: moto's EventBridge, SQS, CloudWatch Logs and SNS, the
real APIs through boto3, on the same moto server as the local Cognito.

What the runner sets up, as the template does in AWS:

- the bus (`EVENT_BUS_NAME` of the Lambda environments, which reach moto by `AWS_ENDPOINT_URL_*`);
- a rule sending every `opd` event to a log group: what `GET /_local/events` reads;
- the notifier's rule, with the template's pattern, targeting an SQS queue (moto cannot invoke a
  Lambda without Docker): a thread takes each message and invokes the notifier's handler with the
  EventBridge event, as EventBridge would; a failed invocation leaves the message, which comes back
  after its visibility timeout and, after 3 receives, goes to the dead-letter queue;
- the relay, invoked every `relay_every_s` seconds as its schedule would (and by `POST /_local/relay`).

`GET /_local/sms` is what moto's SNS recorded (its SMS log, in this process), each with the eventId
of the delivery that sent it and when.

moto keeps its state per process, and tests start several stacks in one: each bus names its
resources after itself, and reads only the SMS sent after it was set up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]

log = logging.getLogger("devserver.runner")

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
MAX_RECEIVES = 3  # Lambda's first try and its two retries, then the dead-letter queue


def environment(endpoint: str, bus_name: str) -> dict[str, str]:
    """What the Lambda environments need to publish to this bus and send SMS through this SNS."""
    return {
        "EVENT_BUS_NAME": bus_name,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
        "AWS_ENDPOINT_URL_SNS": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


@dataclass
class LocalBus:
    endpoint: str
    deliver: Callable[[dict[str, Any]], Any]  # invokes the notifier with one EventBridge event
    relay: Callable[[], dict[str, Any]]  # invokes the relay once
    relay_every_s: float = 60.0
    name: str = field(
        default_factory=lambda: f"opd-local-{secrets.token_hex(4)}"
    )  # the bus, and its rules' and queues' prefix
    _clients: dict[str, Any] = field(default_factory=dict)
    _sent: list[dict[str, Any]] = field(default_factory=list)  # /_local/sms, oldest first
    _seen_sms: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sms_guard: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
        return self._clients[service]

    @property
    def log_group(self) -> str:
        return f"/opd/local/{self.name}"

    def set_up(self, notify_pattern: dict[str, Any]) -> None:
        events, sqs, logs = self.client("events"), self.client("sqs"), self.client("logs")
        bus, log_rule, notify_rule = self.name, f"{self.name}-log", f"{self.name}-notify"
        bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
        logs.create_log_group(logGroupName=self.log_group)
        events.put_rule(Name=log_rule, EventBusName=bus, EventPattern=json.dumps({"source": ["opd"]}))
        group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.log_group}"
        events.put_targets(Rule=log_rule, EventBusName=bus, Targets=[{"Id": "log", "Arn": group_arn}])
        dlq = sqs.create_queue(QueueName=f"{self.name}-notify-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
        self.queue = sqs.create_queue(
            QueueName=f"{self.name}-notify", Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive}
        )["QueueUrl"]
        self.dead_letters = dlq
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=notify_rule, EventBusName=bus, EventPattern=json.dumps(notify_pattern))
        events.put_targets(Rule=notify_rule, EventBusName=bus, Targets=[{"Id": "notify", "Arn": queue_arn}])
        self.bus_arn = bus_arn
        self._seen_sms = len(self._sms_backend().sms_messages)  # what other buses in this process sent

    def start(self) -> None:
        for target, name in ((self._deliver_forever, "local-notify"), (self._relay_forever, "local-relay")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- delivery to the notifier, as EventBridge's Lambda target would ---------------------------

    def _deliver_forever(self) -> None:
        sqs = self.client("sqs")
        while not self._stop.is_set():
            try:
                answer = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            except Exception:  # moto stopping under us at shutdown
                if self._stop.is_set():
                    return
                log.exception("local bus: receiving the notifier's events failed")
                time.sleep(0.5)
                continue
            for message in answer.get("Messages", []):
                self.deliver_one(message)

    def deliver_one(self, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        try:
            self.deliver(event)
        except Exception as failure:  # left in the queue: it comes back, then goes to the dead letters
            log.error("notify_sms failed on %s: %s", event.get("detail", {}).get("eventId"), failure)
            self._record_sms(event)
            return
        self._record_sms(event)
        self.client("sqs").delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def _record_sms(self, event: dict[str, Any]) -> None:
        """What moto's SNS sent since the last delivery was sent by this one (deliveries are one at a time)."""
        with self._sms_guard:
            sent = list(self._sms_backend().sms_messages.values())
            at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            event_id = event.get("detail", {}).get("eventId")
            for phone, text in sent[self._seen_sms :]:
                self._sent.append({"phone": phone, "text": text, "eventId": event_id, "at": at})
            self._seen_sms = len(sent)

    @staticmethod
    def _sms_backend() -> Any:
        from moto.sns.models import sns_backends

        return sns_backends[ACCOUNT][REGION]

    # -- the relay's schedule ------------------------------------------------------------------------

    def _relay_forever(self) -> None:
        while not self._stop.wait(self.relay_every_s):
            try:
                self.relay()
            except Exception:
                log.exception("local bus: the scheduled relay failed")

    # -- what /_local/events and /_local/sms answer ---------------------------------------------------

    def events(self, slot_id: str | None = None) -> list[dict[str, Any]]:
        """Every event put on the bus (as its rule logged it), oldest first; only a slot's with `slot_id`."""
        logs = self.client("logs")
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"logGroupName": self.log_group}
        while True:
            page = logs.filter_log_events(**kwargs)
            found += [json.loads(e["message"]) for e in page.get("events", [])]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if slot_id is not None:
            found = [e for e in found if e.get("detail", {}).get("slotId") == slot_id]

        def order(event: dict[str, Any]) -> tuple[str, int, int]:
            detail = event.get("detail", {})
            seq = str(detail.get("eventId", "")).rpartition(":")[2]
            return (str(detail.get("occurredAt", "")), int(detail.get("slotVersion", 0)), int(seq or 0))

        return sorted(found, key=order)

    def sms(self) -> list[dict[str, Any]]:
        with self._sms_guard:
            return list(self._sent)

    def dead_letter_count(self) -> int:
        with contextlib.suppress(Exception):
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=self.dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return 0
