"""Property: no input gets a 5xx from any route handler (contract, "Conventions"; issue 9).

Hypothesis builds hostile API Gateway events for every handler: bodies nested thousands deep or
over the size limit, numbers of thousands of digits, NaN, times in year 1 and 9999 at any offset,
epoch seconds, unicode and lone surrogates, wrong JSON types, odd media types, base64 bodies that
are not UTF-8, ids real and made up, every role. Whatever comes in, the answer is below 500, an
error is the contract's envelope, and every answer carries nosniff and no-store (a board's success:
a one-second public max-age instead). The examples are derived from a fixed seed, so a run is
repeatable and takes a few seconds.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opd import runtime
from opd.domain import Booking, Slot
from opd.domain.patients import Patient, register
from tests.handlers.support import ROUTE_HANDLERS, cache_control, call, event
from tests.support.hostile import (
    CONTENT_TYPES,
    FIELD_VALUES,
    PATIENT_VALUES,
    ROLES,
    as_json,
    ids,
    odd_dates,
    raw_bodies,
    search_queries,
)

EXAMPLES = 60  # per handler: well under a second each on the development machine


PATIENT_ROUTES = {"register_patient", "search_patients", "get_patient", "update_patient"}


@st.composite
def near_valid_bodies(
    draw: st.DrawFn, sample: dict[str, Any], real: dict[str, str], values: dict[str, Any] = FIELD_VALUES
) -> str:
    """The sample's own body (with this test's ids), as it is or with one field dropped or given a hostile
    value: past the first checks far more often than a body made up whole, so the service is reached too."""
    body = {key: real.get(key, value) for key, value in sample.items()}
    change = draw(st.sampled_from(["none", "drop", "hostile"]))
    field = draw(st.sampled_from(sorted(set(body) | set(values))))
    if change == "drop":
        body.pop(field, None)
    elif change == "hostile":
        body[field] = draw(values[field]) if field in values else None
    return as_json(body)


def _base64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@st.composite
def _cursor_texts(draw: st.DrawFn) -> bytes:
    """Near a `next` (GET /patients/{id}/bookings): a time at the calendar's ends or any offset, and two ids."""
    start = draw(st.sampled_from(["0001-01-01T00:00:00.000000+00:00", "9999-12-31T23:59:59.999999+00:00"]))
    start = draw(st.one_of(st.just(start), st.text(max_size=40), st.sampled_from(["0001-01-01T00:00:00.000000+05:30"])))
    parts = [start, draw(ids), draw(st.one_of(ids, ids.map(lambda i: f"{i}.0a")))]
    return " ".join(parts).encode("utf-8", "surrogatepass")


@st.composite
def hostile_events(draw: st.DrawFn, name: str, slot: Slot, booking: Booking) -> dict[str, Any]:
    sample = event(name)
    path = None
    real = {
        "slotId": slot.slot_id,
        "bookingId": booking.booking_id,
        "doctorId": slot.doctor_id,
        "patientId": booking.patient_id,
        "code": str(booking.status_code),
        "counterId": "reg-sample-1",
    }
    if sample.get("pathParameters"):
        path = {key: draw(st.one_of(st.just(real[key]), ids)) for key in sample["pathParameters"]}
    query = None
    if name in {"list_doctor_slots", "get_board"}:
        query = draw(st.one_of(st.fixed_dictionaries({"date": odd_dates}), st.none()))
    if name == "list_patient_bookings":  # the calendar's ends more often: a day past 9999-12-31 overflows
        days = st.one_of(st.sampled_from(["9999-12-31", "9999-12-01", "0001-01-01"]), odd_dates)
        cursors = st.one_of(st.text(max_size=300), st.binary(max_size=200).map(_base64), _cursor_texts().map(_base64))
        query = draw(
            st.one_of(st.fixed_dictionaries({}, optional={"from": days, "to": days, "after": cursors}), st.none())
        )
    if name == "get_daily_reports":  # the calendar's ends: a default date from one would overflow
        days = st.one_of(st.sampled_from(["9999-12-31", "0001-01-01"]), odd_dates)
        query = draw(st.one_of(st.fixed_dictionaries({}, optional={"from": days, "to": days}), st.none()))
    if name in {"get_counter_queue", "get_counter_board"}:
        query = draw(st.one_of(st.fixed_dictionaries({"date": odd_dates}), st.none()))
    if name == "search_patients":
        query = draw(st.one_of(st.fixed_dictionaries({"q": search_queries}), st.just({"q": "ravi"}), st.none()))
    headers: dict[str, str | None] = {
        "Content-Type": draw(st.one_of(st.just(CONTENT_TYPES[0]), st.sampled_from(CONTENT_TYPES)))
    }
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(st.text(max_size=300))
    role = draw(st.sampled_from(ROLES))
    user = draw(st.one_of(st.just("patient-sample-001"), ids.filter(bool))) if role else None
    bodies = [st.none(), raw_bodies()]
    if isinstance(sample.get("body"), str):
        # POST /bookings's with `"waitlist": true`, which a near-valid body keeps, drops or nulls. Drawn for that
        # route alone (not among hostile.FIELD_VALUES), so the other routes' examples stay as they were.
        near = json.loads(sample["body"]) | ({"waitlist": True} if name == "create_booking" else {})
        values = FIELD_VALUES | PATIENT_VALUES if name in PATIENT_ROUTES else FIELD_VALUES
        bodies.append(near_valid_bodies(near, real, values))
    body: Any = draw(st.one_of(bodies))
    ev = event(name, path=path, body=body, role=role, user=user, headers=headers, query=query)
    if body is not None and draw(st.integers(0, 2)) == 0:  # API Gateway's base64 form, possibly not UTF-8
        raw = draw(st.one_of(st.binary(max_size=64), st.just(body.encode("utf-8", "surrogatepass"))))
        ev["body"], ev["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return ev


def assert_no_server_error(name: str, ev: dict[str, Any]) -> None:
    answer = call(name, ev)
    assert answer.status < 500, (answer.status, answer.body)
    headers = {key.lower(): value for key, value in answer.headers.items()}
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("cache-control") == cache_control(name, answer.status)
    if answer.status >= 400:
        assert set(answer.body) == {"error"} and {"code", "message", "details"} <= set(answer.body["error"])


@pytest.fixture
def patient(booking: Booking) -> Patient:
    """The sample patient's record (the booking's patient, the id the samples' patient token names)."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = register(booking.patient_id, {"name": "Asha Verma", "phone": "+919876500001"}, now, now.year)
    assert runtime.patient_store().insert(made)
    return made


@pytest.mark.parametrize("name", ROUTE_HANDLERS)
def test_no_input_gets_a_server_error(name: str, slot: Slot, booking: Booking, patient: Patient) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same examples every run; the bugs it found are pinned in test_input_bounds.py
        database=None,
        deadline=None,  # a first call may open connections
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
    )
    @given(ev=hostile_events(name, slot, booking))
    def property(ev: dict[str, Any]) -> None:
        assert_no_server_error(name, ev)

    property()


@pytest.mark.parametrize(
    ("name", "success"),
    [
        ("list_doctor_slots", 200),
        ("open_sessions", 201),
        ("take_leave", 200),
        ("list_patient_bookings", 200),
        ("put_doctor", 200),
        ("register_patient", 201),
        ("search_patients", 200),
        ("update_patient", 200),
    ],
)
def test_the_strategies_reach_past_validation(
    name: str, success: int, slot: Slot, booking: Booking, patient: Patient
) -> None:
    """Not only 400s: the property would be weak if nothing ever got through to the service.

    Hypothesis' derandomized draws turned out to depend on what the process ran before (another module's
    tests first, and the admin routes never drew an admin with a near-valid body in 150 tries), so a
    second, larger run is allowed before concluding that the strategies never reach the service.
    """
    seen: set[int] = set()

    def run(examples: int) -> None:
        @settings(max_examples=examples, derandomize=True, database=None, deadline=None)
        @given(ev=hostile_events(name, slot, booking))
        def collect(ev: dict[str, Any]) -> None:
            seen.add(call(name, ev).status)

        collect()

    run(150)
    if success not in seen:
        run(600)
    assert {success, 400} <= seen
