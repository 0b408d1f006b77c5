"""The local API runner: `make serve` serves the OPD API on http://127.0.0.1:$PORT, as API Gateway would.

It starts what it needs and stops it again: its own redis-server and nx-27017 (data kept under
.local/data between runs; `make reset` wipes it) unless REDIS_URL / MONGODB_URI are set, moto's server
in a process of its own (devserver/motoserver.py): the local Cognito that issues the tokens it checks,
and EventBridge, SQS and SNS; the bus in a process of its own with the notifier's and the relay's Lambda
environments (the SMS notifier's delivery, the relay every minute: devserver/bus.py, busprocess.py),
a fake ABDM gateway and the on-share queue delivered to its consumer (devserver/abdm.py), and the Lambda
environments the routes run in. `GET /_local/processes` names each process's id.

In-process use (tests, the demo): `with start_stack(port=0, data_dir=tmp) as stack: stack.url ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import FrameType, TracebackType

import h11

from devserver import REPO_ROOT, make_importable
from devserver import abdm as local_abdm
from devserver import bus as local_bus
from devserver import template as templates
from devserver.apigw import HttpAnswer, HttpRequest, json_answer
from devserver.busprocess import BusConfig, BusProcess
from devserver.cognito import LocalCognito, start_cognito
from devserver.customauth import CustomAuthFront, TriggerEnvironments
from devserver.customauth import environment as cognito_environment
from devserver.gateway import Gateway
from devserver.lambdas import LOCAL_DEFAULTS, EnvironmentPool
from devserver.metrics import ENV as METRICS_FILE_ENV
from devserver.metrics import EmittedMetrics
from devserver.servers import LocalServer, free_port, mongo_server, redis_server

DATA_DIR = REPO_ROOT / ".local" / "data"

log = logging.getLogger("devserver.runner")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # hundreds of clients may connect at the same moment
    gateway: Gateway


_HOP_BY_HOP = ("content-length", "connection", "transfer-encoding")  # h11 frames the answer itself
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's HTTP API refuses a larger payload with 413 itself


class _Refused(Exception):
    """A request the runner answers itself, then closes the connection: it stalled, or its body is too large."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class _Connection(socketserver.BaseRequestHandler):
    """One client connection. h11 parses HTTP/1.1 off it (Content-Length or chunked bodies,
    `Expect: 100-continue`, keep-alive: benchmarks reuse their connections); the gateway answers.

    h11 itself answers a Content-Length that is negative, not a number or given twice differently
    with 400. What it cannot see is a client that stops sending: a begun request must keep coming,
    with no pause longer than `request_timeout_s`, or it is answered 408 and the connection closed.
    """

    server: _Server
    request: socket.socket
    idle_timeout_s = 60  # an idle keep-alive connection (no request begun) is dropped after this
    request_timeout_s = 5.0  # the longest pause inside a request, its headers or its body

    def handle(self) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while self._serve_one(connection):
                connection.start_next_cycle()
        except h11.RemoteProtocolError as error:  # not HTTP/1.1 as h11 reads it: answer 400 (or 413, 431), close
            self._refuse(connection, HTTPStatus(error.error_status_hint))
        except _Refused as refused:
            self._refuse(connection, refused.status)
        except h11.LocalProtocolError:
            log.exception("the runner could not send an answer on HTTP/1.1")
        except OSError:  # the client went away, or kept the connection idle too long
            pass

    def _serve_one(self, connection: h11.Connection) -> bool:
        """Read one request and answer it; False when the connection is to be closed."""
        event = self._next(connection)
        if isinstance(event, h11.ConnectionClosed):
            return False
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError(f"expected a request, got {event!r}")
        began = time.perf_counter()
        declared = next((int(value) for name, value in event.headers if name == b"content-length"), 0)
        if declared > MAX_BODY_BYTES:  # refused before a byte of it is read
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        if connection.they_are_waiting_for_100_continue:
            self.request.sendall(
                connection.send(h11.InformationalResponse(status_code=100, headers=[], reason="Continue"))
            )
        body = bytearray()
        while not isinstance(part := self._next(connection), h11.EndOfMessage):
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > MAX_BODY_BYTES:  # a chunked body has no declared length
                    raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        request = HttpRequest(
            method=event.method.decode("ascii"),
            target=event.target.decode("iso-8859-1"),
            headers=[
                (name.decode("iso-8859-1"), value.decode("iso-8859-1")) for name, value in event.headers.raw_items()
            ],
            body=bytes(body),
            source_ip=self.client_address[0],
            protocol=f"HTTP/{event.http_version.decode('ascii')}",
        )
        answer = self.server.gateway.handle(request)
        self._send(connection, request.method, answer)
        took_ms = (time.perf_counter() - began) * 1000
        log.info("%s %s %d %.0fms", request.method, _loggable(request.target), answer.status, took_ms)
        return connection.our_state is h11.DONE and connection.their_state is h11.DONE

    def _next(self, connection: h11.Connection) -> h11.Event:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                begun = connection.their_state is not h11.IDLE or bool(connection.trailing_data[0])
                self.request.settimeout(self.request_timeout_s if begun else self.idle_timeout_s)
                try:
                    data = self.request.recv(65536)  # b"" when the client closed
                except TimeoutError:
                    if begun:
                        raise _Refused(HTTPStatus.REQUEST_TIMEOUT) from None
                    raise  # idle too long: just close
                connection.receive_data(data)
            elif isinstance(event, h11.Event):
                return event
            else:  # PAUSED: cannot happen, each request is answered before the next one is read
                raise h11.LocalProtocolError(f"unexpected {event!r}")

    def _refuse(self, connection: h11.Connection, status: HTTPStatus) -> None:
        """API Gateway's kind of answer (`{"message"}`), then the connection is closed."""
        if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            plain = json_answer(status.value, {"message": status.phrase})
            answer = HttpAnswer(plain.status, [*plain.headers, ("x-content-type-options", "nosniff")], plain.body)
            with contextlib.suppress(OSError, h11.LocalProtocolError):
                self._send(connection, "GET", answer, close=True)

    def _send(self, connection: h11.Connection, method: str, answer: HttpAnswer, close: bool = False) -> None:
        headers = [(name, value) for name, value in answer.headers if name.lower() not in _HOP_BY_HOP]
        headers.append(("content-length", str(len(answer.body))))
        if close:
            headers.append(("connection", "close"))
        reason = HTTPStatus(answer.status).phrase if answer.status in HTTPStatus else ""
        wire = connection.send(h11.Response(status_code=answer.status, headers=headers, reason=reason))
        if method != "HEAD" and answer.status not in (204, 304):  # answers that never carry a body
            wire += connection.send(h11.Data(data=answer.body))
        wire += connection.send(h11.EndOfMessage())
        self.request.sendall(wire)


def _loggable(target: str) -> str:
    """A request's target as the runner logs it: a status link's code is a key to a booking, and is never logged
    (API Gateway's access log has the route key, `GET /status/{code}`, for the same reason)."""
    return re.sub(r"^/status/[^?#]*", "/status/{code}", target)


@dataclass
class LocalStack:
    """Everything `start_stack` started; `stop()` ends it all, in reverse order."""

    url: str
    data_dir: Path
    redis_url: str
    mongodb_uri: str
    database: str
    auth: bool
    cognito: LocalCognito
    bus: BusProcess
    processes: Callable[[], dict[str, list[int]]]  # process ids by role, as `GET /_local/processes` answers
    _resources: contextlib.ExitStack
    abdm: local_abdm.FakeAbdmGateway | None = None  # the fake ABDM gateway (tests make it refuse on-shares)
    metrics: EmittedMetrics | None = None  # the functions' EMF metrics since the start (`GET /_local/metrics`)

    def token(self, role: str, user: str) -> str:
        """The same token `POST /_local/token` gives, without the HTTP round trip."""
        return self.cognito.token(role, user)

    def stop(self) -> None:
        self._resources.close()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _auth_default() -> bool:
    return os.environ.get("OPD_AUTH", "on").lower() != "off"


def start_stack(
    port: int = 0,
    data_dir: Path = DATA_DIR,
    auth: bool | None = None,
    persist: bool = True,
    database: str | None = None,
    concurrency: int = 8,
    repo_root: Path = REPO_ROOT,
    relay_every_s: float = 60.0,
    notifiers: int = 4,
) -> LocalStack:
    """Start servers, local Cognito, Lambda environments and the HTTP API; port 0 picks a free port.

    REDIS_URL / MONGODB_URI in the environment are used instead of starting servers. `auth=None`
    follows OPD_AUTH (on unless "off"). `database` defaults to MONGODB_DATABASE or the template's.
    `relay_every_s`: the event relay's schedule (every minute, as in AWS). `notifiers`: the SMS notifier's
    Lambda environments at most (its concurrency), in the bus's process.
    """
    auth = _auth_default() if auth is None else auth
    make_importable(repo_root)
    with contextlib.ExitStack() as resources:
        own: dict[str, list[int]] = {}  # the servers' process ids, by role
        redis_url = os.environ.get("REDIS_URL") or _start(
            resources, redis_server(data_dir / "redis", persist=persist), own, "redis-server"
        )
        mongodb_uri = os.environ.get("MONGODB_URI") or _start(
            resources, mongo_server(data_dir / "mongo", persist=persist), own, "nx-27017"
        )
        template = templates.load_template(repo_root / "template.yaml")
        routes = templates.routes(template, repo_root)
        sweeper = templates.function_named(template, "sweep_no_shows", repo_root)
        relay = templates.function_named(template, "relay_events", repo_root)
        publisher = templates.function_named(template, "publish_events", repo_root)
        notifier = templates.function_named(template, "notify_sms", repo_root)
        on_share = templates.function_named(template, "abdm_on_share", repo_root)
        # moto's server (Cognito, the bus, SQS, SNS) gets its port now, so the route environments can start
        # while it comes up.
        moto_endpoint = f"http://127.0.0.1:{free_port()}"
        bus_name = local_bus.new_name()
        # Bound now, served once everything is up: its URL is the pages' (the SMS' status links: PUBLIC_URL).
        server = _Server(("127.0.0.1", port), _Connection)
        resources.callback(server.server_close)
        own_url = f"http://127.0.0.1:{server.server_address[1]}"
        environ = {**templates.plain_environment(template), **LOCAL_DEFAULTS, "PUBLIC_URL": own_url, **os.environ}
        environ |= {"REDIS_URL": redis_url, "MONGODB_URI": mongodb_uri, "OPD_AUTH": "on" if auth else "off"}
        environ |= local_bus.environment(moto_endpoint, bus_name)
        # ABDM Scan & Share: the fake gateway (its keys, sessions, on-share receiver), and the on-share queue in moto.
        abdm_gateway = local_abdm.FakeAbdmGateway().serve()
        resources.callback(abdm_gateway.stop)
        on_share_queue = f"{bus_name}-abdm-on-share"
        environ |= local_abdm.environment(
            abdm_gateway.url, moto_endpoint, local_abdm.queue_url(moto_endpoint, on_share_queue)
        )
        front_port = free_port()  # their Cognito: moto, and its custom flow (devserver/customauth.py)
        environ |= cognito_environment(front_port)
        if database:
            environ["MONGODB_DATABASE"] = database
        # The functions' metrics, on as in AWS, counted for GET /_local/metrics: their EMF lines go to a file of this
        # run's, never to the console (devserver/metrics.py).
        metrics_dir = Path(tempfile.mkdtemp(prefix="opd-metrics-"))
        resources.callback(shutil.rmtree, metrics_dir, ignore_errors=True)
        metrics = EmittedMetrics(metrics_dir / "emf.jsonl")
        environ |= {METRICS_FILE_ENV: str(metrics.path), "POWERTOOLS_METRICS_DISABLED": "false"}
        modules = sorted({route.function.module for route in routes.routes} | {sweeper.module})
        pool = EnvironmentPool(environ, size=concurrency, preload=modules)
        resources.callback(pool.close)
        pool.warm(min(2, concurrency))
        triggers = TriggerEnvironments(templates.cognito_triggers(template, repo_root), environ)
        resources.callback(triggers.close)
        triggers.warm()

        cognito = start_cognito(port=int(moto_endpoint.rpartition(":")[2]))
        resources.callback(cognito.stop)
        own["moto"] = [cognito.server.pid]
        front = CustomAuthFront(cognito, triggers.invoke, port=front_port).serve()
        resources.callback(front.stop)
        # The on-share consumer in an environment of its own, as Lambda's SQS event source invokes it.
        consumer = EnvironmentPool(environ, size=1, preload=[on_share.module])
        resources.callback(consumer.close)
        on_shares = local_abdm.OnShareDelivery.as_template_has_it(
            template, moto_endpoint, on_share_queue, lambda event: consumer.invoke(on_share, event)
        )
        on_shares.set_up()
        on_shares.start()
        resources.callback(on_shares.stop)
        events = BusProcess(
            BusConfig(
                endpoint=cognito.endpoint,
                name=bus_name,
                environ=environ,
                notifier=notifier,
                relay=relay,
                publisher=publisher,
                relay_input=templates.schedule_input(template, relay),
                notify_pattern=templates.event_rule_pattern(template, notifier),
                relay_every_s=relay_every_s,
                notifiers=notifiers,
            )
        )
        resources.callback(events.stop)  # also a bus process that failed to start
        events.start()

        def processes() -> dict[str, list[int]]:
            functions = {"gateway": [os.getpid()], "routes": pool.pids(), "triggers": triggers.pids()}
            functions["abdm"] = consumer.pids()  # the on-share consumer's environment, once started
            return {**functions, **events.pids(), **own}

        server.gateway = Gateway(
            routes=routes,
            pool=pool,
            cognito=cognito,
            sweeper=sweeper,
            verifier=cognito.verifier() if auth else None,
            openapi_path=repo_root / "docs" / "openapi.json",
            sweep_input=templates.schedule_input(template, sweeper),
            cors=templates.cors(template),
            own_url=own_url,
            web_root=repo_root / "web",
            bus=events,
            processes=processes,
            abdm=local_abdm.LocalAbdm(abdm_gateway, own_url),
            metrics=metrics,
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="opd-api", daemon=True
        )
        thread.start()
        resources.callback(server.shutdown)
        stack = LocalStack(
            url=own_url,
            data_dir=data_dir,
            redis_url=redis_url,
            mongodb_uri=mongodb_uri,
            database=environ.get("MONGODB_DATABASE", "opd"),
            auth=auth,
            cognito=cognito,
            bus=events,
            processes=processes,
            _resources=resources.pop_all(),
            abdm=abdm_gateway,
            metrics=metrics,
        )
    return stack


def _start(resources: contextlib.ExitStack, server: LocalServer, pids: dict[str, list[int]], role: str) -> str:
    server.start()
    resources.callback(server.stop)
    assert server.process is not None
    pids[role] = [server.process.pid]
    return server.url


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--concurrency", type=int, default=8, help="Lambda environments at most (default 8)")
    args = parser.parse_args(argv)
    # One line per request, on stdout with the banner and the functions' own logs.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    # Both, explicitly: a shell starting us in the background would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack = start_stack(port=args.port, data_dir=args.data_dir, concurrency=args.concurrency)
    except KeyboardInterrupt:
        return 0
    try:
        print(_banner(stack), flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping ...", flush=True)
        stack.stop()
    return 0


def _banner(stack: LocalStack) -> str:
    own = [name for name, env in (("redis", "REDIS_URL"), ("mongo", "MONGODB_URI")) if not os.environ.get(env)]
    data = f"{stack.data_dir} (our {' and '.join(own)}; make reset wipes it)" if own else "in REDIS_URL / MONGODB_URI"
    token = f'curl -s -X POST {stack.url}/_local/token -d \'{{"role":"admin","user":"me"}}\''
    auth = f"on; a token: {token}" if stack.auth else "off (OPD_AUTH=off: every caller is admin)"
    return "\n".join(
        [
            f"OPD token API on {stack.url}   (Swagger UI: {stack.url}/docs)",
            f"  pages: {stack.url}/desk.html   {stack.url}/board.html?doctors=dr-1",
            f"  data:  {data}",
            f"  auth:  {auth}",
            "  Ctrl-C to stop",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
