"""moto's server in a process of its own: the local Cognito, EventBridge, SQS and SNS.

`make serve` runs it as `python -m devserver.motoserver --port N`, beside the gateway rather than in it:
every PutEvents of every route, every SQS poll and every SMS is parsed, matched and answered by moto,
and in the gateway's interpreter that work took the gateway's GIL from the requests it was serving.
Here it has an interpreter (and a core, when one is free) of its own, as AWS's services do.

What this process adds to moto's own server:

- `_NoBrowsers`: no browser may call it (moto answers any origin's CORS request and checks no signature);
- SNS's record of the SMS it sent is kept by sender, until taken: a request to
  `/_opd/as/<sender>/...` is moto's request to `/...`, and what SNS sends for it is kept under
  `<sender>` (each notifier environment has such an SNS endpoint); `POST /_opd/sms?from=<sender>` takes
  that sender's (each `[phone, text]`, oldest first) and forgets them, so the record does not grow with
  every SMS. The local bus takes an environment's after each delivery to it: that is how `GET
  /_local/sms` knows which event sent which text;
- every few seconds (`_housekeeping`), what moto keeps of every event forever is dropped: every model
  object it ever made, for its dashboard (each SQS message, and each copy of it that a receive answered
  with: moto grew by ~22 MB per 2,000 events), and the receipt handle of every SQS message ever
  deleted (only there to accept a second delete of it);
- where moto spends its time on every call, it spends less (`speed_up`), with the same answers: it
  builds a JSONPath parser (a new yacc parser) eight times per rule target and event for the default input
  template, now once; it lists its own packages' directories for a request's host, now once per host; SQS
  reads the clock through datetime arithmetic for every message of the queue, several times a call, now
  `time.time()`; it computes every attribute of a queue (counting all its messages) to check each message
  received against its retention period, now reads that one; and every backend lookup takes a global lock
  and compares the backend with every other service's, now only the first of each account's.

It ends when its standard input closes: when the runner stops it, or dies.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
SMS_PATH = "/_opd/sms"
SENDER_PREFIX = "/_opd/as/"
HOUSEKEEPING_EVERY_S = 5.0
# Cognito ids made as a hash of what made them, not at random: the runner knows the local pool's ids before this
# process is up, and gives them to the Lambda environments it starts meanwhile (devserver.cognito.PoolIds).
HASH_IDS = {"MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH", "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH"}
_START_UP_S = 60  # importing moto's server takes a second or two on an idle machine


class _NoBrowsers:
    """WSGI middleware: 403 for a request with an Origin header or a Host other than ours; no CORS headers out."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        port = environ.get("SERVER_PORT")
        ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if "HTTP_ORIGIN" in environ or environ.get("HTTP_HOST", f"127.0.0.1:{port}").lower() not in ours:
            start_response(
                "403 Forbidden", [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
            )
            return [b'{"message":"the local Cognito answers the local runner only, not browsers"}']

        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return self.app(environ, without_cors)


def sender_endpoint(endpoint: str, sender: str) -> str:
    """moto's endpoint for one sender of SMS: what SNS sends through it is taken with `?from=<sender>`."""
    return f"{endpoint}{SENDER_PREFIX}{sender}"


_sending = threading.local()  # the sender of the request this thread serves, "" for none


class _SmsLog(dict[str, tuple[str, str]]):
    """Stands in for SNSBackend.sms_messages: keeps each SMS under its sender, until taken, and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, list[list[str]]] = {}
        self._guard = threading.Lock()

    def __setitem__(self, message_id: str, value: tuple[str, str]) -> None:
        with self._guard:
            self.sent.setdefault(getattr(_sending, "sender", ""), []).append(list(value))

    def take(self, sender: str) -> list[list[str]]:
        with self._guard:
            return self.sent.pop(sender, [])


def _sms_log() -> _SmsLog:
    from moto.sns.models import sns_backends

    backend = sns_backends[ACCOUNT][REGION]
    if not isinstance(backend.sms_messages, _SmsLog):  # first use, or moto was reset
        log = _SmsLog()
        log.sent[""] = [list(value) for value in backend.sms_messages.values()]
        backend.sms_messages = log
    return backend.sms_messages


def take_sms(sender: str = "") -> list[list[str]]:
    """What moto's SNS sent for `sender` (in this process), oldest first, then forgotten."""
    return _sms_log().take(sender)


class _Extras:
    """WSGI middleware: `POST /_opd/sms?from=` takes a sender's SMS; `/_opd/as/<sender>/...` is moto's `/...`
    on behalf of a sender; everything else is moto's."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        _sms_log()  # before the first SMS

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == SMS_PATH and environ.get("REQUEST_METHOD") == "POST":
            sender = parse_qs(str(environ.get("QUERY_STRING", ""))).get("from", [""])[0]
            body = json.dumps(take_sms(sender)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not path.startswith(SENDER_PREFIX):
            return self.app(environ, start_response)
        sender, _, rest = path.removeprefix(SENDER_PREFIX).partition("/")
        environ["PATH_INFO"] = f"/{rest}"
        _sending.sender = sender
        try:
            return list(self.app(environ, start_response))  # moto's work is done here, on this thread
        finally:
            _sending.sender = ""


def speed_up(dispatcher: Any) -> None:
    """Spare moto the work it does again on every call, with the same result every time (see above)."""
    dispatcher.get_backend_for_host = functools.lru_cache(maxsize=256)(dispatcher.get_backend_for_host)
    jsonpath: Any = importlib.import_module("jsonpath_ng.ext")
    if hasattr(jsonpath.parse, "cache_info"):  # this process is patched already
        return
    jsonpath.parse = functools.lru_cache(maxsize=256)(jsonpath.parse)  # moto imports `parse` on each use
    # Every call lists its handler class's methods (inspect.getmembers): 7 % of the process in a rush.
    responses: Any = importlib.import_module("moto.core.responses")
    responses.method_names_from_class = functools.lru_cache(maxsize=256)(responses.method_names_from_class)

    sqs: Any = importlib.import_module("moto.sqs.models")
    exact_seconds, exact_millis = sqs.unix_time, sqs.unix_time_millis
    sqs.unix_time = lambda dt=None: time.time() if dt is None else exact_seconds(dt)
    sqs.unix_time_millis = lambda dt=None: time.time() * 1000 if dt is None else exact_millis(dt)

    def retained(backend: Any, queue_name: str, message: Any) -> bool:
        queue = backend.get_queue(queue_name)
        return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time())

    sqs.SQSBackend.is_message_valid_based_on_retention_period = retained

    backends: Any = importlib.import_module("moto.core.base_backend").BackendDict
    create, created = backends._create_account_specific_backend, set()

    def create_once(backend: Any, account_id: str) -> None:
        if (backend._id, account_id) not in created or not dict.__contains__(backend, account_id):
            create(backend, account_id)
            created.add((backend._id, account_id))

    backends._create_account_specific_backend = create_once


def moto_app() -> WSGIApplication:
    """moto's server app with our additions, for this process or (tests) a thread of another one."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    speed_up(dispatcher)
    return _NoBrowsers(_Extras(dispatcher))


def forget_the_past() -> None:
    """Drop what moto keeps of every request, and nothing it needs to answer the next."""
    from moto.core.model_instances import reset_model_data
    from moto.sqs.models import sqs_backends

    reset_model_data()  # the list of every model object ever made, for the dashboard at /moto-api/ (unused here)
    for queue in list(sqs_backends[ACCOUNT][REGION].queues.values()):
        queue.deleted_messages.clear()  # only there to let a message be deleted twice without an error


def _housekeeping(stop: threading.Event) -> None:
    while not stop.wait(HOUSEKEEPING_EVERY_S):
        try:
            forget_the_past()
        except Exception:
            logging.getLogger("devserver.motoserver").exception("housekeeping failed")


def main(argv: list[str] | None = None) -> int:
    import waitress  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser(prog="python -m devserver.motoserver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.getLogger("waitress").setLevel(logging.ERROR)  # it would log every queue of waiting requests
    # waitress, not moto's werkzeug server: that one closes every connection after its answer, so each
    # PutEvents or SQS call was a new TCP connection and a new thread, and writes each header on its own
    # (most of the process's CPU in a rush); waitress keeps connections open and buffers its writes.
    server = waitress.create_server(moto_app(), host="127.0.0.1", port=args.port, threads=8, ident="moto")
    stop = threading.Event()
    threading.Thread(target=server.run, name="moto", daemon=True).start()
    threading.Thread(target=_housekeeping, args=(stop,), name="moto-housekeeping", daemon=True).start()
    print(server.effective_port, flush=True)  # the runner waits for this line
    # moto prints a line now and then; nobody reads our stdout after the port.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    with contextlib.suppress(KeyboardInterrupt):
        while sys.stdin.buffer.read(4096):  # until the runner closes it, or is gone
            pass
    stop.set()
    server.close()
    return 0


class MotoProcess:
    """`python -m devserver.motoserver` on 127.0.0.1: started by `start()`, ended by `stop()`."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> MotoProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devserver.motoserver", "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **HASH_IDS, "PYTHONPATH": os.pathsep.join(sys.path)},
            start_new_session=True,  # Ctrl-C goes to the runner, which stops this process itself
        )
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as ready:
            ready.register(self.process.stdout, selectors.EVENT_READ)
            line = self.process.stdout.readline() if ready.select(_START_UP_S) else b""
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"moto's server did not start (exit code {self.process.returncode})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # the process ends itself
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
