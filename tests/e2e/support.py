"""A newcomer's HTTP session with the local API, for the end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests


@dataclass
class Api:
    """What a newcomer does with curl: plain HTTP calls, a token per role from /_local/token."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, role: str, user: str | None = None) -> str:
        key = (role, user or f"{role}-e2e")
        if key not in self.tokens:
            answer = self.call("POST", "/_local/token", body={"role": role, "user": key[1]})
            assert answer.status_code == 200, answer.text
            self.tokens[key] = answer.json()["token"]
        return self.tokens[key]

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.url + path, json=body, headers=all_headers, timeout=30)

    def as_role(self, role: str, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call(method, path, token=self.token(role), body=body, **kwargs)

    def new_slot(self, starts_in: timedelta = timedelta(hours=3), **capacity: int) -> dict[str, Any]:
        """A fresh slot of a doctor of its own, 30 minutes long."""
        start = datetime.now(UTC).replace(microsecond=0) + starts_in
        body = {
            "doctorId": f"dr-{uuid.uuid4().hex[:8]}",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            **capacity,
        }
        answer = self.as_role("admin", "POST", "/slots", body)
        assert answer.status_code == 201, answer.text
        slot: dict[str, Any] = answer.json()
        return slot

    def book(
        self, slot_id: str, source: str, patient_id: str | None = None, role: str = "reception"
    ) -> requests.Response:
        body = {"slotId": slot_id, "patientId": patient_id or f"p-{uuid.uuid4().hex[:10]}", "source": source}
        return self.as_role(role, "POST", "/bookings", body)


def error_of(answer: requests.Response) -> dict[str, Any]:
    """The contract's error envelope of a refusal."""
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "details"} <= set(error), error
    return error


def eventually[T](read: Callable[[], T], done: Callable[[T], bool], within_s: float = 60.0) -> T:
    """`read()` again every 0.2 s until `done` says its value is the awaited one, or `within_s` has passed: the last
    value either way (the caller's assertion says what was awaited)."""
    give_up = time.monotonic() + within_s
    while not done(value := read()) and time.monotonic() < give_up:
        time.sleep(0.2)
    return value
