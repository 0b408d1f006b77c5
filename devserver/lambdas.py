"""Lambda execution environments on this machine: worker processes that each run one invocation at a time.

Why processes and not threads: Powertools' event handler keeps the current event on a class attribute
(`BaseRouter.current_event`), shared by every resolver in a process. Two invocations running at once
in one process could read each other's request. A Lambda environment never runs two invocations at
once, and neither does a worker here; concurrency comes from having several workers, as in AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from devserver import metrics as local_metrics
from devserver import snapstart as local_snapstart
from devserver.apigw import LambdaContext
from devserver.template import Function

_START_UP_S = 30  # a cold environment imports every handler before its first invocation

# What differs from AWS on purpose: no X-Ray, and no metric or INFO log lines flooding the console.
LOCAL_DEFAULTS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # The sign-in codes' HMAC key: in AWS a generated secret (template.yaml: SignInCodeKey); here, no secret.
    "SIGN_IN_CODE_KEY": "local-only-sign-in-code-key-not-a-secret",
}


class FunctionFailed(Exception):
    """The handler raised, timed out or its environment died: API Gateway answers 500 then."""

    def __init__(self, message: str, environment_lost: bool = False) -> None:
        super().__init__(message)
        self.environment_lost = environment_lost  # a timeout or a crash: that worker is not reused


@dataclass(frozen=True)
class _Invocation:
    module: str
    handler: str
    function_name: str
    memory_mb: int
    timeout_s: int
    event: dict[str, Any]


def _environment_main(connection: Connection, preload: list[str]) -> None:
    """The worker process: import the handlers like a Lambda environment, then run invocations."""
    handlers: dict[tuple[str, str], Callable[[dict[str, Any], LambdaContext], Any]] = {}

    def handler_of(module: str, name: str) -> Callable[[dict[str, Any], LambdaContext], Any]:
        if (module, name) not in handlers:
            handlers[module, name] = getattr(importlib.import_module(module), name)
        return handlers[module, name]

    def time_out(signum: int, frame: FrameType | None) -> None:
        # Lambda ends an environment whose invocation runs past its timeout, wherever it was.
        connection.send(("lost", "task timed out"))
        os._exit(1)

    signal.signal(signal.SIGALRM, time_out)
    local_metrics.divert_from_stdout()  # EMF lines to the runner's count (`GET /_local/metrics`), not the console
    snapstart = local_snapstart.install()  # route functions register their SnapStart hooks as they import
    for module in preload:
        with contextlib.suppress(Exception):  # a broken module is reported when it is invoked
            importlib.import_module(module)
    snapstart.snapshot_and_restore()  # this environment starts as one restored from the snapshot
    while True:
        try:
            invocation: _Invocation | None = connection.recv()
        except EOFError:  # the runner is gone
            return
        if invocation is None:
            return
        context = LambdaContext(invocation.function_name, invocation.memory_mb, invocation.timeout_s)
        signal.setitimer(signal.ITIMER_REAL, invocation.timeout_s)
        try:
            result = handler_of(invocation.module, invocation.handler)(invocation.event, context)
            answer = ("ok", result)
        except Exception:
            answer = ("error", traceback.format_exc())
        signal.setitimer(signal.ITIMER_REAL, 0)
        connection.send(answer)


class _Worker:
    """One environment: `python -m devserver.lambdas <fd>`, talking over a socket pair.

    A plain subprocess rather than multiprocessing's spawn: spawn re-runs the parent's main script in
    the child, which a caller's script without a `__main__` guard would not survive.
    """

    def __init__(self, environ: dict[str, str], preload: list[str]) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devserver.lambdas", str(theirs.fileno()), *preload],
                env={**environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # Ctrl-C goes to the runner, which stops the workers itself
            )
        self.connection = Connection(ours.detach())

    def invoke(self, invocation: _Invocation) -> Any:
        try:
            self.connection.send(invocation)
            # The environment times the invocation itself; this bound is for one that hangs in its start-up.
            if not self.connection.poll(invocation.timeout_s + _START_UP_S):
                raise FunctionFailed(f"{invocation.function_name} did not answer", environment_lost=True)
            outcome, result = self.connection.recv()
        except (EOFError, OSError) as error:
            raise FunctionFailed(f"{invocation.function_name}'s environment died", environment_lost=True) from error
        if outcome != "ok":
            lost = outcome == "lost"
            where = (
                f"{invocation.function_name} (timeout {invocation.timeout_s}s)" if lost else invocation.function_name
            )
            raise FunctionFailed(f"{where}: {result}", environment_lost=lost)
        return result

    def end(self) -> None:
        """End the environment at once, as Lambda does: it keeps nothing that needs saving."""
        self.process.terminate()  # a caller waiting on it gets EOF, hence FunctionFailed

    def wait(self) -> None:
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()


class EnvironmentPool:
    """Up to `size` workers, started on demand (a cold start) and reused while warm."""

    def __init__(self, environ: dict[str, str], size: int = 8, preload: list[str] | None = None) -> None:
        self.environ = environ
        self.size = size
        self.preload = preload or []
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._count = 0  # workers alive or being started
        self._changed = threading.Condition()
        self._closed = False

    def pids(self) -> list[int]:
        """The process ids of the environments alive now (for `GET /_local/processes`)."""
        with self._changed:
            return sorted(worker.process.pid for worker in self._workers)

    def warm(self, count: int) -> None:
        """Start `count` workers now, so the first requests find them (nearly) ready."""
        with self._changed:
            room = max(0, min(count, self.size - self._count))
            self._count += room
        for _ in range(room):
            self._give_back(self._start_worker(), reusable=True)

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        invocation = _Invocation(
            function.module, function.handler, function.name, function.memory_mb, function.timeout_s, event
        )
        with self._checkout() as worker:
            return worker.invoke(invocation)

    @contextlib.contextmanager
    def _checkout(self) -> Iterator[_Worker]:
        worker = self._take_or_reserve() or self._start_worker()
        reusable = False
        try:
            yield worker
            reusable = True
        except FunctionFailed as failure:
            reusable = not failure.environment_lost
            raise
        finally:
            self._give_back(worker, reusable)

    def _take_or_reserve(self) -> _Worker | None:
        """An idle worker, or None after counting in a new one; waits while all are busy."""
        with self._changed:
            while True:
                if self._closed:
                    raise FunctionFailed("the runner is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    return None
                self._changed.wait()

    def _start_worker(self) -> _Worker:
        """A new worker, already counted in `_count`."""
        try:
            worker = _Worker(self.environ, self.preload)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._workers.add(worker)
        return worker

    def _give_back(self, worker: _Worker, reusable: bool) -> None:
        with self._changed:
            keep = reusable and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._count -= 1
                self._workers.discard(worker)
            self._changed.notify()
        if not keep:
            worker.end()
            worker.wait()

    def close(self) -> None:
        """Stop every worker, also busy ones (their callers get FunctionFailed)."""
        with self._changed:
            self._closed = True
            workers = list(self._workers)
            self._changed.notify_all()
        for worker in workers:
            worker.end()
        for worker in workers:
            worker.wait()


if __name__ == "__main__":
    _environment_main(Connection(int(sys.argv[1])), preload=sys.argv[2:])
