"""The on-share callback: what the consumer of the on-share queue does with each message, and the sweeper's re-send.

One message, one share (`opd.abdm.queue.OnShareMessage`): its callback as the counter's record says it now
(`CounterDesk.share_callback`: the token number, the seconds it had left), for the message's REQUEST-ID (the latest
share's when the message names none), POSTed to
the gateway (`opd.abdm.gateway`), then recorded as sent (`CounterDesk.callback_sent`, for that REQUEST-ID only, so a
newer share of the same address still owes its own). Anything that fails raises: the message comes back to be tried
again (SQS), later each time, and after its last try waits in the dead-letter queue. A callback already recorded as
sent is not sent again (a message received twice, or re-sent by the sweeper meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from opd.abdm.queue import OnShareMessage
from opd.domain.abdm import on_share_body
from opd.service.ids import utc_now

if TYPE_CHECKING:
    from opd.service.counters import CounterDesk

log = logging.getLogger(__name__)

# An on-share still owed this long after its share was taken lost its message (SendMessage failed, or the message
# went to the dead-letter queue): the sweeper, every 5 minutes, queues it again.
RESEND_AFTER = timedelta(minutes=2)


class CallbackNotReady(Exception):
    """The share has no number yet (its request is still issuing it): the message is tried again later."""


class Delivered(StrEnum):
    SENT = "SENT"
    ALREADY_SENT = "ALREADY_SENT"
    UNREADABLE = "UNREADABLE"  # not a message of ours: dropped, as no try could ever send it


class OnShareGateway(Protocol):
    def on_share(self, body: dict[str, Any]) -> None: ...


class OnShareOutbox(Protocol):
    """Where an owed on-share is put (`opd.abdm.queue.OnShareQueue`): by the share's route, and by the sweeper."""

    def send(self, counter_id: str, abha_address: str, request_id: str | None = None) -> None: ...


class OnShareSender:
    """The consumer's side: the counters' records and the gateway."""

    def __init__(self, desk: CounterDesk, gateway: OnShareGateway, clock: Callable[[], datetime] = utc_now) -> None:
        self.desk = desk
        self.gateway = gateway
        self.clock = clock

    def deliver(self, body: str) -> Delivered:
        """Send the on-share a message's body names; raises (GatewayFailed, CallbackNotReady, DependencyUnavailable)
        when it could not be sent, so the message is tried again."""
        message = OnShareMessage.of_body(body)
        if message is None:
            log.error("an on-share message that names no share was dropped")
            return Delivered.UNREADABLE
        owed = self.desk.share_callback(message.counter_id, message.abha_address)
        if owed is None:
            raise CallbackNotReady(f"a share at counter {message.counter_id} has no token number yet")
        # A repeat share's first request still gets its own callback (the same token): the record keeps only the
        # latest share's delivery, so an earlier one's is sent without a record (at least once, as every callback).
        request_id = message.request_id or owed.request_id
        latest = request_id == owed.request_id
        if latest and owed.sent_at is not None:
            return Delivered.ALREADY_SENT
        self.gateway.on_share(
            on_share_body(request_id, owed.abha_address, owed.context, owed.token_number, owed.expiry)
        )
        if latest:
            self.desk.callback_sent(message.counter_id, message.abha_address, request_id, self.clock())
        return Delivered.SENT


def resend_owed(desk: CounterDesk, outbox: OnShareOutbox, now: datetime) -> int:
    """The sweeper's part: every on-share still owed `RESEND_AFTER` after its share, queued again; how many."""
    owed = desk.pending_callbacks(now - RESEND_AFTER)
    for counter_id, abha_address in owed:
        outbox.send(counter_id, abha_address)
    return len(owed)
