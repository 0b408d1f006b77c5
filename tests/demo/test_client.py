"""The demo's HTTP client honours Retry-After on 429 and gives up after its bound."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo.client import OpdClient


class BusyThenBooked(BaseHTTPRequestHandler):
    """Answers 429 (Retry-After: 2) to the first `busy` requests, then 201."""

    busy = 2
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen += 1
        if type(self).seen <= type(self).busy:
            self._answer(429, {"error": {"code": "SLOT_BUSY", "message": "busy", "details": []}}, "2")
        else:
            self._answer(201, {"bookingId": "s1.b1", "token": 1, "status": "BOOKED"})

    def _answer(self, status: int, body: dict[str, object], retry_after: str | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    BusyThenBooked.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BusyThenBooked)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_booking_is_retried_after_each_retry_after(server: str) -> None:
    slept: list[float] = []
    answer = OpdClient(server, sleep=slept.append).book("token", "s1", "p1", "ONLINE")

    assert (answer.status, answer.body["token"]) == (201, 1)
    assert (answer.attempts, answer.busy) == (3, 2)
    assert slept == [2.0, 2.0]


def test_the_client_gives_up_after_its_bound(server: str) -> None:
    slept: list[float] = []
    answer = OpdClient(server, max_attempts=2, sleep=slept.append).book("token", "s1", "p1", "ONLINE")

    assert (answer.status, answer.code, answer.attempts, answer.busy) == (429, "SLOT_BUSY", 2, 2)
    assert slept == [2.0]


def test_without_retrying_a_429_is_the_answer(server: str) -> None:
    answer = OpdClient(server).send("POST", "/bookings", body={})

    assert (answer.status, answer.attempts, answer.busy) == (429, 1, 1)
