"""The stack's event bus and SMS on this machine: moto's EventBridge, SQS and SNS, the real APIs through
boto3, on the moto server that is also the local Cognito (`devserver.motoserver`).

What is set up, as the template does in AWS:

- the bus (`EVENT_BUS_NAME` of the Lambda environments, which reach moto by `AWS_ENDPOINT_URL_*`);
- a rule sending every `opd` event to an archive queue, which `drain_archive` empties into a file
  (`events.jsonl` under `records`): what `GET /_local/events` reads. The file, not moto, keeps what was
  published: moto's state stays the size of what is in flight, however many events a day sends;
- the notifier's rule, with the template's pattern, targeting an SQS queue (moto cannot invoke a
  Lambda without Docker): a thread takes the messages and invokes the notifier's handler with each
  EventBridge event, as EventBridge would, on as many notifier environments at once as `senders` has
  (one at a time on `deliver` when it has none); a failed invocation leaves its message, which comes back
  after its visibility timeout and, after 3 receives, goes to the dead-letter queue;
- the relay, invoked every `relay_every_s` seconds as its schedule would (and by `POST /_local/relay`).

`GET /_local/sms` is what moto's SNS sent, taken from moto after each delivery (`POST /_opd/sms?from=`
the environment's sender name, which also makes moto forget it: see devserver/motoserver.py) with the
eventId of that delivery and when, into `sms.jsonl`; what other functions send (a sign-in code) is taken
with the archive, its eventId null.

The runner runs a `LocalBus` in a process of its own (`devserver.busprocess`), with the notifier's and the
relay's Lambda environments; tests may run one in theirs, where `events()` drains the archive itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3  # type: ignore[import-untyped]

from devserver.motoserver import REGION, SMS_PATH

log = logging.getLogger("devserver.runner")

MAX_RECEIVES = 3  # Lambda's first try and its two retries, then the dead-letter queue
ARCHIVE_EVERY_S = 0.5  # how often the archive queue is emptied into the file (and on every events())


def new_name() -> str:
    """A bus's name, and its rules' and queues' prefix."""
    return f"opd-local-{secrets.token_hex(4)}"


def environment(endpoint: str, bus_name: str) -> dict[str, str]:
    """What the Lambda environments need to publish to this bus and send SMS through this SNS."""
    return {
        "EVENT_BUS_NAME": bus_name,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
        "AWS_ENDPOINT_URL_SNS": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_order(event: dict[str, Any]) -> tuple[str, int, int]:
    detail = event.get("detail", {})
    seq = str(detail.get("eventId", "")).rpartition(":")[2]
    return (str(detail.get("occurredAt", "")), int(detail.get("slotVersion", 0)), int(seq or 0))


def moto_client(endpoint: str, service: str) -> Any:
    """A boto3 client of moto's `service` at `endpoint`, with the local stack's region and dummy keys."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
    )


@dataclass
class LocalBus:
    endpoint: str
    deliver: Callable[[dict[str, Any]], Any]  # invokes the notifier with one EventBridge event
    relay: Callable[[], dict[str, Any]]  # invokes the relay once
    relay_every_s: float = 60.0
    # Notifier environments that may run at once, by the sender name of their SNS endpoint
    # (`motoserver.sender_endpoint`); none: `deliver`, one delivery at a time, its SMS sent under no name.
    senders: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    name: str = field(default_factory=new_name)
    records: Path | None = None  # where events.jsonl and sms.jsonl are written; default: a temporary directory
    _clients: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sms_guard: threading.Lock = field(default_factory=threading.Lock)
    _archive_guard: threading.Lock = field(default_factory=threading.Lock)
    _moto: http.client.HTTPConnection | None = None  # for `_take_sms`

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = moto_client(self.endpoint, service)
        return self._clients[service]

    @property
    def events_file(self) -> Path:
        assert self.records is not None, "set_up() first"
        return self.records / "events.jsonl"

    @property
    def sms_file(self) -> Path:
        assert self.records is not None, "set_up() first"
        return self.records / "sms.jsonl"

    def set_up(self, notify_pattern: dict[str, Any]) -> None:
        bus = self.name
        self.bus_arn = self.client("events").create_event_bus(Name=bus)["EventBusArn"]
        self.archive = self._queue(f"{bus}-archive", {"VisibilityTimeout": "30"})
        self._route(f"{bus}-archive", {"source": ["opd"]}, self.archive)
        self.dead_letters = self._queue(f"{bus}-notify-dlq", {})
        dead_letters = self._arn(self.dead_letters)
        redrive = json.dumps({"deadLetterTargetArn": dead_letters, "maxReceiveCount": str(MAX_RECEIVES)})
        self.queue = self._queue(f"{bus}-notify", {"VisibilityTimeout": "1", "RedrivePolicy": redrive})
        self._route(f"{bus}-notify", notify_pattern, self.queue)
        if self.records is None:
            self.records = Path(tempfile.mkdtemp(prefix=f"{bus}-"))
            weakref.finalize(self, shutil.rmtree, self.records, ignore_errors=True)
        self.records.mkdir(parents=True, exist_ok=True)
        self.events_file.touch()
        self.sms_file.touch()

    def _queue(self, name: str, attributes: dict[str, str]) -> str:
        return str(self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def _arn(self, queue: str) -> str:
        found = self.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        return str(found["Attributes"]["QueueArn"])

    def _route(self, rule: str, pattern: dict[str, Any], queue: str) -> None:
        events = self.client("events")
        events.put_rule(Name=rule, EventBusName=self.name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=rule, EventBusName=self.name, Targets=[{"Id": "queue", "Arn": self._arn(queue)}])

    def start(self) -> None:
        for target, name in (
            (self._deliver_forever, "local-notify"),
            (self._archive_forever, "local-archive"),
            (self._relay_forever, "local-relay"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- delivery to the notifier, as EventBridge's Lambda target would ---------------------------

    def _deliver_forever(self) -> None:
        # The environment used last is used again (a stack): the others start only when deliveries overlap.
        sqs, free = self.client("sqs"), queue.LifoQueue[tuple[str, Callable[[dict[str, Any]], Any]]]()
        for sender in reversed(self.senders.items() or [("", self.deliver)]):
            free.put(sender)

        def deliver(message: dict[str, Any]) -> bool:
            sender, invoke = free.get()  # an environment that is not busy
            try:
                return self.deliver_one(message, invoke, sender)
            finally:
                free.put((sender, invoke))

        with ThreadPoolExecutor(max(1, len(self.senders)), thread_name_prefix="local-notify") as environments:
            while not self._stop.is_set():
                try:
                    answer = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                    messages = answer.get("Messages", [])
                    done = environments.map(deliver, messages)
                    self._delete(self.queue, [m for m, ok in zip(messages, done, strict=True) if ok])
                except Exception:  # moto stopping under us at shutdown
                    if self._stop.is_set():
                        return
                    log.exception("local bus: receiving the notifier's events failed")
                    time.sleep(0.5)

    def deliver_one(
        self, message: dict[str, Any], invoke: Callable[[dict[str, Any]], Any] | None = None, sender: str = ""
    ) -> bool:
        """Invoke the notifier with the message's event; True if it succeeded (the message is then deleted)."""
        event = json.loads(message["Body"])
        try:
            result = (invoke or self.deliver)(event)
        except Exception as failure:  # left in the queue: it comes back, then goes to the dead letters
            log.error("notify_sms failed on %s: %s", event.get("detail", {}).get("eventId"), failure)
            self._record_sms(event, sender)
            return False
        if not (isinstance(result, dict) and result.get("sent") == 0):  # the notifier says it sent nothing
            self._record_sms(event, sender)
        return True

    def _delete(self, queue: str, messages: list[dict[str, Any]]) -> None:
        if messages:
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            self.client("sqs").delete_message_batch(QueueUrl=queue, Entries=entries)

    def _take_sms(self, sender: str) -> list[list[str]]:
        """`POST /_opd/sms?from=<sender>` on moto's server, on a connection kept open (only under `_sms_guard`)."""
        for attempt in (1, 2):  # a kept connection the server closed meanwhile is opened again, once
            if self._moto is None:
                address = urlsplit(self.endpoint)
                self._moto = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
            try:
                self._moto.request("POST", f"{SMS_PATH}?{urlencode({'from': sender})}", body=b"")
                answer = self._moto.getresponse()
                taken: list[list[str]] = json.loads(answer.read())
            except (OSError, http.client.HTTPException):
                self._moto.close()
                self._moto = None
                if attempt == 2:
                    raise
                continue
            if answer.status != 200:
                raise RuntimeError(f"moto's server answered {answer.status} to {SMS_PATH}")
            return taken
        raise AssertionError("unreachable")

    def _record_sms(self, event: dict[str, Any], sender: str) -> None:
        """What moto's SNS sent for `sender` since its last delivery was sent by this one: a sender's
        deliveries are one at a time (an environment runs one invocation at a time)."""
        with self._sms_guard:
            sent = self._take_sms(sender)
            if not sent:
                return
            at, event_id = _now(), event.get("detail", {}).get("eventId")
            lines = [json.dumps({"phone": phone, "text": text, "eventId": event_id, "at": at}) for phone, text in sent]
            with self.sms_file.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")

    # -- the archive: every event on the bus, in a file ----------------------------------------------

    def _archive_forever(self) -> None:
        while not self._stop.wait(ARCHIVE_EVERY_S):
            try:
                self.drain_archive()
                if self.senders:  # SMS no notifier environment sent (a sign-in code): no event sent them
                    self._record_sms({}, "")
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("local bus: archiving the bus's events failed")

    def drain_archive(self) -> int:
        """Move what the archive queue holds into the file; how many events that was."""
        sqs, moved = self.client("sqs"), 0
        with self._archive_guard:
            while True:
                messages = sqs.receive_message(QueueUrl=self.archive, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    return moved
                with self.events_file.open("a", encoding="utf-8") as out:
                    out.write("".join(m["Body"].replace("\n", " ") + "\n" for m in messages))
                self._delete(self.archive, messages)
                moved += len(messages)

    # -- the relay's schedule ------------------------------------------------------------------------

    def _relay_forever(self) -> None:
        while not self._stop.wait(self.relay_every_s):
            try:
                self.relay()
            except Exception:
                log.exception("local bus: the scheduled relay failed")

    # -- what /_local/events and /_local/sms answer ---------------------------------------------------

    def events(self, slot_id: str | None = None) -> list[dict[str, Any]]:
        """Every event put on the bus (as its rule delivered it), oldest first; only a slot's with `slot_id`."""
        self.drain_archive()
        with self._archive_guard, self.events_file.open(encoding="utf-8") as lines:
            found = [json.loads(line) for line in lines if slot_id is None or slot_id in line]
        if slot_id is not None:
            found = [e for e in found if e.get("detail", {}).get("slotId") == slot_id]
        return sorted(found, key=_event_order)

    def sms(self) -> list[dict[str, Any]]:
        with self._sms_guard, self.sms_file.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]

    def dead_letter_count(self) -> int:
        with contextlib.suppress(Exception):
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=self.dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return 0
