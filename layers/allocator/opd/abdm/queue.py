"""The on-share callbacks owed to the ABDM gateway, on an SQS queue (template.yaml: AbdmOnShareQueue and its DLQ).

A message names one share at one counter, `{"counterId", "abhaAddress"}`, and nothing else: what the callback says
(its REQUEST-ID, the token number, the expiry) is read from the counter's record when it is sent, so a message sent
twice, or late, still sends what is true then. The queue is encrypted at rest (SQS-managed keys): the ABHA address is
a patient's identifier.

A callback the gateway did not take comes back later, each time later (`domain.abdm.retry_delay_s` of its receive
count, set as the message's visibility), and after `maxReceiveCount` receives goes to the dead-letter queue. A
SendMessage lost on the way (the share's request answered, SQS unreachable) is sent again by the sweeper
(`pending_callbacks` older than 2 minutes): the counter's record, not the queue, says what is still owed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opd.domain.abdm import retry_delay_s


@dataclass(frozen=True)
class OnShareMessage:
    """The on-share owed to one share: its counter and ABHA address, and the share's REQUEST-ID (None for the
    sweeper's re-send, which owes the latest share's): each share gets its own callback, even a repeat's first."""

    counter_id: str
    abha_address: str
    request_id: str | None = None

    def as_body(self) -> str:
        named = {} if self.request_id is None else {"requestId": self.request_id}
        return json.dumps({"counterId": self.counter_id, "abhaAddress": self.abha_address} | named)

    @classmethod
    def of_body(cls, body: str) -> OnShareMessage | None:
        """The message a body holds; None for one that is not ours (it can never be sent)."""
        try:
            found = json.loads(body)
        except ValueError:
            return None
        if not isinstance(found, dict):
            return None
        counter_id, abha_address = found.get("counterId"), found.get("abhaAddress")
        if not isinstance(counter_id, str) or not isinstance(abha_address, str) or not counter_id or not abha_address:
            return None
        request_id = found.get("requestId")
        return cls(counter_id, abha_address, request_id if isinstance(request_id, str) and request_id else None)


@dataclass(frozen=True)
class Receipt:
    """A received message's handle and how many times it has been received (SQS's ApproximateReceiveCount)."""

    receipt_handle: str
    receive_count: int


class OnShareQueue:
    """The queue through a boto3 SQS client (`opd.runtime.aws_client("sqs")`: short timeouts)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, counter_id: str, abha_address: str, request_id: str | None = None) -> None:
        body = OnShareMessage(counter_id, abha_address, request_id).as_body()
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def retry_later(self, receipts: Iterable[Receipt]) -> None:
        """Each failed message comes back after its backoff rather than the queue's visibility timeout."""
        entries = [
            {"Id": str(n), "ReceiptHandle": r.receipt_handle, "VisibilityTimeout": retry_delay_s(r.receive_count)}
            for n, r in enumerate(receipts)
        ]
        for start in range(0, len(entries), 10):  # SQS takes at most 10 entries a call
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
