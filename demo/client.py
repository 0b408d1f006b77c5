"""A small HTTP client of the OPD API for the demo and the benchmarks.

It speaks the public HTTP contract plus the local runner's `/_local/token`, `/_local/sweep`,
`/_local/events`, `/_local/sms` and `/_local/relay`.
A change refused with 429 SLOT_BUSY is sent again after the server's `Retry-After`, as the contract
asks of every client, and the answer says how often that happened.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests

BUSY = 429
# The contract's sources and tiers, written out rather than imported from the service: the demo and
# the benchmarks check the service against the contract, so they must not share its mistakes.
TIER_OF_SOURCE = {
    "ONLINE": "STANDARD",
    "WALKIN": "STANDARD",
    "PAID": "PREMIUM",
    "FOLLOWUP": "PREMIUM",
    "EMERGENCY": "CRITICAL",
}
NO_ANSWER = 0  # the connection failed: the client cannot know what the server did


@dataclass(frozen=True)
class Answer:
    """The final HTTP answer to one request, after any 429 retries."""

    status: int
    body: dict[str, Any]
    attempts: int = 1  # requests sent; more than one only when 429s were retried
    busy: int = 0  # 429 answers received, the final one included
    seconds: float = 0.0  # from the first request to this answer

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        """The contract's error code of a refusal, None on success."""
        error = self.body.get("error")
        return str(error.get("code")) if isinstance(error, dict) else None

    @property
    def details(self) -> list[dict[str, Any]]:
        error = self.body.get("error")
        details = error.get("details") if isinstance(error, dict) else None
        return details if isinstance(details, list) else []


class ApiError(RuntimeError):
    """A call the caller cannot go on without (creating a slot, getting a token) did not succeed."""

    def __init__(self, what: str, answer: Answer) -> None:
        super().__init__(f"{what}: HTTP {answer.status} {answer.body}")
        self.answer = answer


def expect(answer: Answer, what: str) -> dict[str, Any]:
    if not answer.ok:
        raise ApiError(what, answer)
    return answer.body


def retry_after_seconds(headers: Mapping[str, str], default: float = 1.0) -> float:
    """The contract's Retry-After is in seconds; an unreadable value falls back to `default`."""
    try:
        return max(0.0, float(headers.get("Retry-After", default)))
    except ValueError:
        return default


class OpdClient:
    def __init__(
        self,
        base_url: str,
        timeout_s: float = 30.0,
        max_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts  # a bound, so a stuck slot cannot hang a client forever
        self._sleep = sleep
        self._threads = threading.local()  # one Session per thread: a Session is not thread-safe

    @property
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._threads, "session", None)
        if session is None:
            session = self._threads.session = requests.Session()
        return session

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        retry_busy: bool = False,
    ) -> Answer:
        """One request; with `retry_busy`, 429 answers are retried after their Retry-After."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        began = time.perf_counter()
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._session.request(
                    method, self.base_url + path, json=body, headers=all_headers, timeout=self.timeout_s
                )
            except requests.RequestException as exc:
                error = {"code": "NO_ANSWER", "message": f"{type(exc).__name__}: {exc}", "details": []}
                return Answer(NO_ANSWER, {"error": error}, attempt, attempt - 1, time.perf_counter() - began)
            if response.status_code != BUSY or not retry_busy or attempt == self.max_attempts:
                # Every attempt before this one was a 429; this one may be too.
                busy = attempt - 1 + (response.status_code == BUSY)
                return Answer(response.status_code, _json_object(response), attempt, busy, time.perf_counter() - began)
            self._sleep(retry_after_seconds(response.headers))
        raise AssertionError("unreachable: the last attempt always returns")

    # -- local runner ------------------------------------------------------------------------

    def token(self, role: str, user: str) -> str:
        body = expect(self.send("POST", "/_local/token", body={"role": role, "user": user}), f"token for {user}")
        return str(body["token"])

    def sweep(self, now: datetime | None = None) -> int:
        """Run the no-show sweeper once, as the schedule would, telling it the time."""
        body = {"now": now.isoformat()} if now is not None else {}
        return int(expect(self.send("POST", "/_local/sweep", body=body), "sweep")["marked"])

    def relay(self) -> dict[str, Any]:
        """Run the event relay once, as its schedule (every minute) would."""
        return expect(self.send("POST", "/_local/relay"), "relay")

    def events(self, slot_id: str | None = None) -> list[dict[str, Any]]:
        """What was published to the local bus, oldest first (every delivery, so a redelivery twice)."""
        query = f"?slotId={slot_id}" if slot_id else ""
        found = expect(self.send("GET", f"/_local/events{query}"), "events")["events"]
        return list(found)

    def sms(self) -> list[dict[str, Any]]:
        """What the local SNS sent: {phone, text, eventId, at}, oldest first."""
        return list(expect(self.send("GET", "/_local/sms"), "sms")["messages"])

    # -- slots -------------------------------------------------------------------------------

    def health(self) -> Answer:
        return self.send("GET", "/health")

    def create_slot(self, token: str, doctor_id: str, start: datetime, end: datetime, **capacity: int) -> Answer:
        body: dict[str, Any] = {"doctorId": doctor_id, "start": start.isoformat(), "end": end.isoformat(), **capacity}
        return self.send("POST", "/slots", token=token, body=body)

    def get_slot(self, slot_id: str) -> Answer:
        return self.send("GET", f"/slots/{slot_id}")

    def doctor_slots(self, doctor_id: str, day: str) -> Answer:
        return self.send("GET", f"/doctors/{doctor_id}/slots?date={day}")

    def set_delay(self, token: str, slot_id: str, delayed: bool, minutes: int | None = None) -> Answer:
        body: dict[str, Any] = {"delayed": delayed} if minutes is None else {"delayed": delayed, "minutes": minutes}
        return self.send("PUT", f"/slots/{slot_id}/delay", token=token, body=body, retry_busy=True)

    def queue(self, token: str, slot_id: str) -> Answer:
        return self.send("GET", f"/slots/{slot_id}/queue", token=token)

    def waitlist(self, token: str, slot_id: str) -> Answer:
        return self.send("GET", f"/slots/{slot_id}/waitlist", token=token)

    def call_next(self, token: str, slot_id: str) -> Answer:
        return self.send("POST", f"/slots/{slot_id}/call-next", token=token, retry_busy=True)

    def board(self, doctor_id: str, day: str) -> Answer:
        return self.send("GET", f"/boards/{doctor_id}?date={day}")

    # -- doctors -----------------------------------------------------------------------------

    def put_doctor(
        self,
        token: str,
        doctor_id: str,
        name: str,
        department: str,
        room: str | None = None,
        languages: Sequence[str] = (),
    ) -> Answer:
        """Record the doctor in the directory (or replace the record, whole)."""
        body = {"name": name, "department": department, "room": room, "languages": list(languages)}
        return self.send("PUT", f"/doctors/{doctor_id}", token=token, body=body)

    def doctor(self, doctor_id: str) -> Answer:
        return self.send("GET", f"/doctors/{doctor_id}")

    def doctors(self, department: str | None = None) -> Answer:
        """The directory, by department then name; one department's doctors only if named."""
        query = "" if department is None else "?" + urlencode({"department": department}, quote_via=quote)
        return self.send("GET", f"/doctors{query}")

    def open_sessions(self, token: str, doctor_id: str, session: dict[str, Any]) -> Answer:
        """`session`: {from, to, start, end, slotMinutes, weekdays?, baseCapacity?, ...} (clinic dates and times)."""
        return self.send("POST", f"/doctors/{doctor_id}/sessions", token=token, body=session)

    def take_leave(self, token: str, doctor_id: str, day: str, reason: str | None = None) -> Answer:
        body = {"date": day} if reason is None else {"date": day, "reason": reason}
        return self.send("POST", f"/doctors/{doctor_id}/leave", token=token, body=body, retry_busy=True)

    # -- sign-in by phone --------------------------------------------------------------------

    def request_code(self, phone: str, accept_language: str | None = None) -> Answer:
        """A 6-digit sign-in code sent to `phone` by SMS (202), in the language `accept_language` prefers."""
        headers = None if accept_language is None else {"Accept-Language": accept_language}
        return self.send("POST", "/auth/otp", body={"phone": phone}, headers=headers)

    def verify_code(self, phone: str, code: str) -> Answer:
        """The patient's tokens and patientId for the right code (200), else 401 INVALID_CODE."""
        return self.send("POST", "/auth/otp/verify", body={"phone": phone, "code": code})

    def sign_in_codes(self) -> dict[str, str]:
        """Phone to the last sign-in code the local SNS sent it (GET /_local/sms: codes are the SMS of no event)."""
        codes: dict[str, str] = {}
        for message in self.sms():
            found = re.search(r"\b(\d{6})\b", str(message.get("text", "")))
            if message.get("eventId") is None and found:
                codes[str(message["phone"])] = found.group(1)
        return codes

    # -- patients ----------------------------------------------------------------------------

    def register_patient(self, token: str, name: str, phone: str | None = None, language: str | None = None) -> Answer:
        """A new patient in the register: their name, and their phone and language if they give them."""
        body = {"name": name} | ({} if phone is None else {"phone": phone})
        body |= {} if language is None else {"language": language}
        return self.send("POST", "/patients", token=token, body=body)

    # -- bookings ----------------------------------------------------------------------------

    def book(
        self,
        token: str,
        slot_id: str,
        patient_id: str,
        source: str,
        idempotency_key: str | None = None,
        *,
        waitlist: bool = False,
        phone: str | None = None,
    ) -> Answer:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body: dict[str, Any] = {"slotId": slot_id, "patientId": patient_id, "source": source}
        if waitlist:
            body["waitlist"] = True
        if phone is not None:
            body["phone"] = phone
        return self.send("POST", "/bookings", token=token, body=body, headers=headers, retry_busy=True)

    def get_booking(self, token: str, booking_id: str) -> Answer:
        return self.send("GET", f"/bookings/{booking_id}", token=token)

    def move(self, token: str, booking_id: str, action: str) -> Answer:
        """`action` is one of cancel, check-in, no-show, complete, skip."""
        return self.send("POST", f"/bookings/{booking_id}/{action}", token=token, retry_busy=True)

    def reschedule(self, token: str, booking_id: str, slot_id: str) -> Answer:
        body = {"slotId": slot_id}
        return self.send("POST", f"/bookings/{booking_id}/reschedule", token=token, body=body, retry_busy=True)

    def patient_bookings(self, token: str, patient_id: str, first: str, last: str, max_pages: int = 50) -> Answer:
        """The patient's bookings from `first` to `last`: the pages (at most 100 bookings each) read by following
        `next`, answered as one whose `next` is the last page's (null unless `max_pages` cut it short); the first
        page that is refused is the answer instead."""
        path = f"/patients/{patient_id}/bookings?from={first}&to={last}"
        answer, pages, bookings = self.send("GET", path, token=token), 1, []
        while answer.ok:
            bookings += answer.body.get("bookings", [])
            after = answer.body.get("next")
            if not isinstance(after, str) or pages == max_pages:
                return replace(answer, body={**answer.body, "bookings": bookings})
            answer, pages = self.send("GET", f"{path}&after={after}", token=token), pages + 1  # url-safe already
        return answer


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"raw": response.text[:500]}
    return data if isinstance(data, dict) else {"value": data}


def at_once[T](calls: Sequence[Callable[[], T]], timeout_s: float = 60.0) -> list[T]:
    """Run every call on a thread of its own, all released together by a barrier; results in call order."""
    if not calls:
        return []
    barrier = threading.Barrier(len(calls), timeout=timeout_s)

    def released(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    # One worker per call: the barrier needs every call waiting on it at the same time.
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(released, calls))


def in_parallel[T](calls: Iterable[Callable[[], T]], workers: int = 8) -> list[T]:
    """Run the calls on a small pool; results in call order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))
