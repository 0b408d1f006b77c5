"""The local bus in a process of its own, with the notifier's, the relay's and the publisher's own Lambda environments.

In AWS the SMS notifier and the event relay are functions with their own concurrency: a burst of events
never takes an execution environment away from a booking, nor the gateway's time. The runner gives them
the same here: `BusProcess` starts `python -m devserver.busprocess <fd>`, which runs a `LocalBus`
(devserver/bus.py: the SQS polling, the deliveries to the notifier, the archive of `/_local/events`, the
SMS record of `/_local/sms`, the relay's schedule) and the Lambda environments of the notifier (up to four
by default, each delivered one event at a time and sending its SMS through an SNS endpoint of its own, so
that each SMS is known to come from the event it was delivered; the first is started with the bus, the
others when deliveries overlap, as Lambda scales out), of the relay (one, started at its first run) and of
the publisher (one, its runs back to back: each waits for handed-off events until its timeout is near),
children of that process. With one notifier environment, a soak of back-to-back rushes on two cores left
it ever further behind (and moto holding the backlog); with four it keeps up.

The runner asks it, over a socket pair, for what the local-only endpoints answer (`events`, `sms`,
`relay`) and for the process ids of its environments (`pids`), one request at a time. It ends when the
runner says so, or when the socket closes because the runner is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from devserver import bus as local_bus
from devserver.lambdas import EnvironmentPool, FunctionFailed
from devserver.motoserver import sender_endpoint
from devserver.template import Function, scheduled_input

log = logging.getLogger("devserver.runner")

_START_UP_S = 60  # boto3's import, the bus's queues and rules, on a busy machine
_ANSWER_S = 30  # events, SMS, pids: the relay gets its function's timeout on top


@dataclass(frozen=True)
class BusConfig:
    """What the bus process needs: moto's endpoint, the bus's name, the environments' settings."""

    endpoint: str
    name: str
    environ: dict[str, str]
    notifier: Function
    relay: Function
    publisher: Function
    relay_input: dict[str, Any]
    notify_pattern: dict[str, Any]
    relay_every_s: float
    notifiers: int = 4  # the notifier's environments: deliveries at once


def _plain(config: BusConfig) -> BusConfig:
    """The config in plain str, dict and list: what the template's parser gives (its own str nodes) does not pickle."""

    def function(f: Function) -> Function:
        return Function(str(f.logical_id), str(f.name), str(f.module), str(f.handler), f.timeout_s, f.memory_mb)

    return BusConfig(
        endpoint=str(config.endpoint),
        name=str(config.name),
        environ={str(name): str(value) for name, value in config.environ.items()},
        notifier=function(config.notifier),
        relay=function(config.relay),
        publisher=function(config.publisher),
        relay_input=json.loads(json.dumps(config.relay_input)),
        notify_pattern=json.loads(json.dumps(config.notify_pattern)),
        relay_every_s=float(config.relay_every_s),
        notifiers=int(config.notifiers),
    )


class BusProcess:
    """The runner's handle on the bus process: what `Gateway` asks for `/_local/events`, `/_local/sms` and
    `/_local/relay`, and what tests reach for (`client`, `queue`)."""

    def __init__(self, config: BusConfig) -> None:
        self.config = config
        self.name = config.name
        self.endpoint = config.endpoint
        self.queue = ""  # the notifier's queue, once started
        self.dead_letters = ""
        self._clients: dict[str, Any] = {}
        self._asking = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> BusProcess:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devserver.busprocess", str(theirs.fileno())],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # Ctrl-C goes to the runner, which stops this process itself
            )
        self._connection = Connection(ours.detach())
        self._connection.send(_plain(self.config))
        ready = self._answer(_START_UP_S, "start")
        self.queue, self.dead_letters = ready["queue"], ready["dead_letters"]
        return self

    def _answer(self, within_s: float, what: str) -> Any:
        assert self._connection is not None
        try:
            if not self._connection.poll(within_s):
                raise FunctionFailed(f"the local bus did not answer {what} within {within_s:.0f} s")
            outcome, result = self._connection.recv()
        except (EOFError, OSError) as error:
            raise FunctionFailed("the local bus's process is gone") from error
        if outcome == "failed":
            raise FunctionFailed(str(result))
        if outcome != "ok":
            raise RuntimeError(f"the local bus failed on {what}:\n{result}")
        return result

    def _ask(self, what: str, *args: Any, within_s: float = _ANSWER_S) -> Any:
        assert self._connection is not None, "not started"
        with self._asking:
            try:
                self._connection.send((what, *args))
            except OSError as error:
                raise FunctionFailed("the local bus's process is gone") from error
            return self._answer(within_s, what)

    def events(self, slot_id: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._ask("events", slot_id)
        return found

    def sms(self) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = self._ask("sms")
        return sent

    def relay(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ask("relay", within_s=self.config.relay.timeout_s + _START_UP_S)
        return result

    def pids(self) -> dict[str, list[int]]:
        """The bus process's own id, and its environments': {"bus": [...], "notifier": [...], "relay": [...]}."""
        found: dict[str, list[int]] = self._ask("pids")
        return {"bus": [self.pid], **found}

    def dead_letter_count(self) -> int:
        count: int = self._ask("dead_letters")
        return count

    def client(self, service: str) -> Any:
        """A boto3 client of moto's `service`, in this process (tests put messages on the queue with it)."""
        if service not in self._clients:
            self._clients[service] = local_bus.moto_client(self.endpoint, service)
        return self._clients[service]

    def stop(self) -> None:
        if self.process is None:
            return
        if self._connection is not None:
            with self._asking, contextlib.suppress(OSError):
                self._connection.send(None)
        try:
            self.process.wait(timeout=15)  # the bus stops its threads, then its environments
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._connection is not None:
            self._connection.close()


def _serve(connection: Connection) -> None:
    """The bus process: set the bus up, start it, then answer the runner until it says stop."""
    config: BusConfig = connection.recv()
    notifiers = {
        f"notifier-{n}": EnvironmentPool(
            config.environ | {"AWS_ENDPOINT_URL_SNS": sender_endpoint(config.endpoint, f"notifier-{n}")},
            size=1,
            preload=[config.notifier.module],
        )
        for n in range(1, max(1, config.notifiers) + 1)
    }
    relayer = EnvironmentPool(config.environ, size=1, preload=[config.relay.module])
    publisher = EnvironmentPool(config.environ, size=1, preload=[config.publisher.module])
    stopping = threading.Event()

    def publish_forever() -> None:
        """The publisher's runs back to back, as its schedule starts one each minute and each waits for
        events until its timeout is near (functions/publish_events)."""
        while not stopping.is_set():
            try:
                publisher.invoke(config.publisher, {})
            except FunctionFailed as failure:
                if stopping.is_set():
                    return
                log.error("publish_events failed: %s", failure)
                stopping.wait(1)

    bus = local_bus.LocalBus(
        endpoint=config.endpoint,
        deliver=lambda event: notifiers["notifier-1"].invoke(config.notifier, event),
        relay=lambda: dict(relayer.invoke(config.relay, scheduled_input(config.relay_input))),
        relay_every_s=config.relay_every_s,
        name=config.name,
        senders={sender: partial(pool.invoke, config.notifier) for sender, pool in notifiers.items()},
    )
    try:
        notifiers["notifier-1"].warm(1)
        bus.set_up(config.notify_pattern)
        bus.start()
        threading.Thread(target=publish_forever, name="local-publisher", daemon=True).start()
        connection.send(("ok", {"queue": bus.queue, "dead_letters": bus.dead_letters}))
        answers: dict[str, Any] = {
            "events": bus.events,
            "sms": bus.sms,
            "relay": bus.relay,
            "pids": lambda: {
                "notifier": [pid for pool in notifiers.values() for pid in pool.pids()],
                "relay": relayer.pids(),
                "publisher": publisher.pids(),
            },
            "dead_letters": bus.dead_letter_count,
        }
        while True:
            try:
                request = connection.recv()
            except EOFError:  # the runner is gone
                return
            if request is None:
                return
            what, *args = request
            try:
                answer = ("ok", answers[what](*args))
            except FunctionFailed as failure:
                answer = ("failed", str(failure))
            except Exception:
                answer = ("error", traceback.format_exc())
            connection.send(answer)
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        stopping.set()
        publisher.close()  # ends a run waiting for events at once
        bus.stop()
        for pool in [*notifiers.values(), relayer]:
            pool.close()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops this process, in its order
    _serve(Connection(int(sys.argv[1])))
