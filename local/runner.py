"""The local API runner: `make serve` serves the OPD API on http://127.0.0.1:$PORT, as API Gateway would.

It starts what it needs and stops it again: its own redis-server and nx-27017 (data kept under
.local/data between runs; `make reset` wipes it) unless REDIS_URL / MONGODB_URI are set, a local
Cognito (moto) that issues the tokens it checks, and the Lambda environments the functions run in.

In-process use (tests, the demo): `with start_stack(port=0, data_dir=tmp) as stack: stack.url ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType

from local import template as templates
from local.apigw import HttpRequest
from local.cognito import LocalCognito, start_cognito
from local.gateway import Gateway
from local.lambdas import EnvironmentPool
from local.servers import LocalServer, mongo_server, redis_server

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / ".local" / "data"

# What differs from AWS on purpose: no X-Ray, and no metric or INFO log lines flooding the console.
LOCAL_DEFAULTS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

log = logging.getLogger("local.runner")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients may connect at the same moment
    gateway: Gateway


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks reuse their connections
    timeout = 60  # an idle keep-alive connection is dropped after this

    def _serve(self) -> None:
        began = time.perf_counter()
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._body(),
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        answer = self.server.gateway.handle(request)
        self.send_response_only(answer.status)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        log.info("%s %s %d %.0fms", self.command, self.path, answer.status, (time.perf_counter() - began) * 1000)

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


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
    _resources: contextlib.ExitStack

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
) -> LocalStack:
    """Start servers, local Cognito, Lambda environments and the HTTP API; port 0 picks a free port.

    REDIS_URL / MONGODB_URI in the environment are used instead of starting servers. `auth=None`
    follows OPD_AUTH (on unless "off"). `database` defaults to MONGODB_DATABASE or the template's.
    """
    auth = _auth_default() if auth is None else auth
    templates.make_importable(repo_root)
    with contextlib.ExitStack() as resources:
        redis_url = os.environ.get("REDIS_URL") or _start(resources, redis_server(data_dir / "redis", persist=persist))
        mongodb_uri = os.environ.get("MONGODB_URI") or _start(
            resources, mongo_server(data_dir / "mongo", persist=persist)
        )
        cognito = start_cognito()
        resources.callback(cognito.stop)

        template = templates.load_template(repo_root / "template.yaml")
        routes = templates.routes(template, repo_root)
        sweeper = templates.function_named(template, "sweep_no_shows", repo_root)
        environ = {**templates.plain_environment(template), **LOCAL_DEFAULTS, **os.environ}
        environ |= {"REDIS_URL": redis_url, "MONGODB_URI": mongodb_uri, "OPD_AUTH": "on" if auth else "off"}
        if database:
            environ["MONGODB_DATABASE"] = database
        modules = sorted({route.function.module for route in routes.routes} | {sweeper.module})
        pool = EnvironmentPool(environ, size=concurrency, preload=modules)
        resources.callback(pool.close)
        pool.warm(min(2, concurrency))

        server = _Server(("127.0.0.1", port), _RequestHandler)
        server.gateway = Gateway(
            routes=routes,
            pool=pool,
            cognito=cognito,
            sweeper=sweeper,
            verifier=cognito.verifier() if auth else None,
            openapi_path=repo_root / "docs" / "openapi.json",
            sweep_input=templates.schedule_input(template, sweeper),
            cors=templates.cors(template),
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="opd-api", daemon=True
        )
        thread.start()
        resources.callback(server.server_close)
        resources.callback(server.shutdown)
        stack = LocalStack(
            url=f"http://127.0.0.1:{server.server_address[1]}",
            data_dir=data_dir,
            redis_url=redis_url,
            mongodb_uri=mongodb_uri,
            database=environ.get("MONGODB_DATABASE", "opd"),
            auth=auth,
            cognito=cognito,
            _resources=resources.pop_all(),
        )
    return stack


def _start(resources: contextlib.ExitStack, server: LocalServer) -> str:
    server.start()
    resources.callback(server.stop)
    return server.url


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.runner", description=__doc__.splitlines()[0])
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
            f"  data:  {data}",
            f"  auth:  {auth}",
            "  Ctrl-C to stop",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
