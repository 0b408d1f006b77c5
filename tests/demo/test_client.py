"""The demo's HTTP client honours Retry-After on 429 and gives up after its bound, and reads every page."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

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


class ThreePages(BusyThenBooked):
    """GET /patients/{id}/bookings as the contract pages it: 2, 2 and 1 bookings, `next` the cursor after them;
    a cursor it did not give is 400."""

    cursors: ClassVar[dict[str | None, tuple[str | None, list[str]]]] = {}  # after -> (next, booking ids)
    asked: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        type(self).asked.append(query)
        after = query.get("after", [None])[0]
        if after not in self.cursors:
            self._answer(400, {"error": {"code": "VALIDATION_ERROR", "message": "after", "details": []}})
            return
        following, ids = self.cursors[after]
        self._answer(200, {"bookings": [{"bookingId": i} for i in ids], "next": following})


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    BusyThenBooked.seen = 0
    yield from serve(BusyThenBooked)


@pytest.fixture
def pages_server() -> Iterator[str]:
    ThreePages.cursors = {None: ("c1", ["b1", "b2"]), "c1": ("c2", ["b3", "b4"]), "c2": (None, ["b5"])}
    ThreePages.asked = []
    yield from serve(ThreePages)


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


def test_a_patients_bookings_are_read_page_by_page_following_next(pages_server: str) -> None:
    answer = OpdClient(pages_server).patient_bookings("token", "p1", "2030-01-07", "2030-01-08")

    assert (answer.status, answer.body["next"]) == (200, None)
    assert [b["bookingId"] for b in answer.body["bookings"]] == ["b1", "b2", "b3", "b4", "b5"]
    assert [q.get("after") for q in ThreePages.asked] == [None, ["c1"], ["c2"]]
    assert all(q["from"] == ["2030-01-07"] and q["to"] == ["2030-01-08"] for q in ThreePages.asked)


def test_a_refused_page_is_the_answer_and_the_pages_are_bounded(pages_server: str) -> None:
    ThreePages.cursors["c2"] = ("bad", ["b5"])  # a `next` it then refuses
    refused = OpdClient(pages_server).patient_bookings("token", "p1", "2030-01-07", "2030-01-08")
    cut = OpdClient(pages_server).patient_bookings("token", "p1", "2030-01-07", "2030-01-08", max_pages=2)
    assert (refused.status, refused.code) == (400, "VALIDATION_ERROR")
    assert ([b["bookingId"] for b in cut.body["bookings"]], cut.body["next"]) == (["b1", "b2", "b3", "b4"], "c2")


class Directory(BusyThenBooked):
    """Records each request's method, path and body; answers 200 with what it was sent."""

    seen_requests: ClassVar[list[tuple[str, str, object]]] = []

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        type(self).seen_requests.append(("PUT", self.path, body))
        self._answer(200, body)

    def do_GET(self) -> None:
        type(self).seen_requests.append(("GET", self.path, None))
        self._answer(200, {"doctors": []})


@pytest.fixture
def directory_server() -> Iterator[str]:
    Directory.seen_requests = []
    yield from serve(Directory)


def test_the_directory_is_written_whole_and_read_by_department(directory_server: str) -> None:
    api = OpdClient(directory_server)
    assert api.put_doctor("token", "dr-rao", "Dr Asha Rao", "Cardiology").status == 200
    assert api.put_doctor("token", "dr-sen", "Dr Sen", "ENT", "E-1", ["en", "hi"]).status == 200
    assert api.doctors("Obstetrics & Gynaecology").ok and api.doctors().ok and api.doctor("dr-rao").ok
    assert Directory.seen_requests == [
        ("PUT", "/doctors/dr-rao", {"name": "Dr Asha Rao", "department": "Cardiology", "room": None, "languages": []}),
        ("PUT", "/doctors/dr-sen", {"name": "Dr Sen", "department": "ENT", "room": "E-1", "languages": ["en", "hi"]}),
        ("GET", "/doctors?department=Obstetrics%20%26%20Gynaecology", None),
        ("GET", "/doctors", None),
        ("GET", "/doctors/dr-rao", None),
    ]
