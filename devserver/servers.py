"""Start and stop our own redis-server and nx-27017 (MongoDB wire protocol over SQLite).

Used by the tests and by the local API runner: never a server we did not start ourselves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from pymongo import MongoClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(ready: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except Exception:
            if time.monotonic() > give_up:
                raise
        if time.monotonic() > give_up:
            raise TimeoutError(f"{what} did not come up in {timeout_s:.0f}s")
        time.sleep(0.05)


@dataclass
class LocalServer:
    """One child process serving on 127.0.0.1:port; `stop()` ends it, `start()` brings it back."""

    name: str
    command: list[str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "redis" if self.name == "redis" else "mongodb"
        return f"{scheme}://127.0.0.1:{self.port}" + ("/0" if self.name == "redis" else "/")

    def start(self) -> LocalServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        _wait_until(self._answers, f"{self.name} on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.workdir}")
        if self.name == "redis":
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        client: MongoClient[dict[str, object]]
        with MongoClient(self.url, serverSelectionTimeoutMS=500) as client:
            return bool(client.admin.command("ping")["ok"])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def redis_server(workdir: Path, port: int | None = None, persist: bool = False) -> LocalServer:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = port or free_port()
    # persist: every write goes to the append-only file (workdir/appendonlydir) before it is answered, and
    # is on disk within a second (everysec), so a restart, even after a crash, keeps idempotency keys as
    # Upstash does. A snapshot alone (`--save 60 1`) lost up to a minute of them to a kill.
    keep = ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]
    keep += ["--save", ""]  # no snapshots: the append-only file is the one copy, and tests need none
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *keep]
    return LocalServer("redis", command, port, workdir)


def mongo_server(workdir: Path, port: int | None = None, persist: bool = False) -> LocalServer:
    """nx-27017 in memory for tests, or on a SQLite file under `workdir` for the runner."""
    port = port or free_port()
    db = str(workdir / "opd.sqlite") if persist else "memory"
    command = [
        sys.executable,
        "-m",
        "nx_27017.nx_27017",
        "--db",
        db,
        "--port",
        str(port),
        "--log-file",
        str(workdir / "nx-27017.log"),
        "--pid-file",
        str(workdir / f"nx-27017-{port}.pid"),
    ]
    return LocalServer("mongo", command, port, workdir)


@contextlib.contextmanager
def running(*servers: LocalServer) -> Iterator[tuple[LocalServer, ...]]:
    started: list[LocalServer] = []
    try:
        for server in servers:
            started.append(server.start())
        yield servers
    finally:
        for server in reversed(started):
            server.stop()


def given_or_own(stack: contextlib.ExitStack, workdir: Path) -> tuple[str, str]:
    """(REDIS_URL, MONGODB_URI) from the environment, or servers of our own in `workdir` that `stack` stops."""
    urls = []
    for variable, make in (("REDIS_URL", redis_server), ("MONGODB_URI", mongo_server)):
        url = os.environ.get(variable)
        if not url:
            server = make(workdir).start()
            stack.callback(server.stop)
            url = server.url
        urls.append(url)
    return urls[0], urls[1]
