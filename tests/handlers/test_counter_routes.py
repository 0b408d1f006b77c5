"""The registration counters through their handlers (contract v3, "Registration counters and ABDM Scan & Share"),
driven by the events/ samples: PUT /counters/{id} (admin), tokens, call-next and the queue (reception, admin), the
public board; roles, validation, the flow of a day, the day after (EXPIRED on read) and the sweeper's expiry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opd import runtime
from opd.api.bounds import Window
from opd.domain.counters import MAX_TOKENS_PER_DAY, TokenStatus, clinic_day
from opd.domain.patients import register
from opd.errors import DependencyUnavailable
from opd.service.counters import CounterDesk
from opd.service.ids import utc_now
from tests.handlers.support import EVENTS, PATIENT, Answer, call, context, event
from tests.support.hostile import CONTENT_TYPES, ROLES, as_json, ids, odd_dates, raw_bodies

COUNTER_HANDLERS = ("put_counter", "issue_counter_token", "counter_call_next", "get_counter_queue", "get_counter_board")
ROUTES = {
    "put_counter": "PUT /counters/{counterId}",
    "issue_counter_token": "POST /counters/{counterId}/tokens",
    "counter_call_next": "POST /counters/{counterId}/call-next",
    "get_counter_queue": "GET /counters/{counterId}/queue",
    "get_counter_board": "GET /boards/counters/{counterId}",
}
SAMPLE_COUNTER = "reg-sample-1"  # the counter the samples name
ASHA = "आशा वर्मा"
TOKEN_KEYS = {
    "counterId",
    "date",
    "number",
    "label",
    "status",
    "source",
    "patientId",
    "patientName",
    "createdAt",
    "calledAt",
    "servedAt",
    "expiresAt",
}


class Clock:
    """The counters' "now", which a test moves (the desk's clock; the window of dates follows it)."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, handler_runtime: None) -> Clock:
    made = Clock()
    monkeypatch.setattr(runtime.counter_desk(), "clock", made)
    return made


@pytest.fixture
def desk(clock: Clock) -> CounterDesk:
    return runtime.counter_desk()


def today(clock: Clock) -> date:
    return clinic_day(clock.now, runtime.settings().clinic_zone)


def put(counter_id: str, body: Any, role: str = "admin") -> Answer:
    return call("put_counter", event("put_counter", path={"counterId": counter_id}, body=body, role=role))


def issue(counter_id: str, patient_id: str | None = None, role: str = "reception") -> Answer:
    body = {} if patient_id is None else {"patientId": patient_id}
    return call(
        "issue_counter_token", event("issue_counter_token", path={"counterId": counter_id}, body=body, role=role)
    )


def call_next(counter_id: str) -> Answer:
    return call("counter_call_next", event("counter_call_next", path={"counterId": counter_id}))


def queue(counter_id: str, day: date | None = None) -> Answer:
    query = None if day is None else {"date": day.isoformat()}
    return call("get_counter_queue", event("get_counter_queue", path={"counterId": counter_id}, query=query))


def board(counter_id: str, day: date | None = None) -> Answer:
    query = None if day is None else {"date": day.isoformat()}
    return call("get_counter_board", event("get_counter_board", path={"counterId": counter_id}, query=query))


def ok(answer: Answer, status: int = 200) -> dict[str, Any]:
    assert answer.status == status, answer.body
    return cast(dict[str, Any], answer.body)


def labels_and_statuses(counter_id: str, day: date | None = None) -> list[tuple[str, str]]:
    return [(t["label"], t["status"]) for t in ok(queue(counter_id, day))["tokens"]]


# -- the samples, as API Gateway would send them ---------------------------------------------------------


def test_every_sample_names_the_route_its_handler_serves() -> None:
    for name, route in ROUTES.items():
        sample = json.loads((EVENTS / f"{name}.json").read_text())
        assert sample["routeKey"] == sample["requestContext"]["routeKey"] == route
        assert sample["pathParameters"] == {"counterId": SAMPLE_COUNTER}
        assert ("authorizer" in sample["requestContext"]) is (name != "get_counter_board")  # the board is public


def test_the_samples_name_a_counter_issue_call_and_show_it(desk: CounterDesk) -> None:
    sample_body = json.loads(json.loads((EVENTS / "put_counter.json").read_text())["body"])
    named = call("put_counter")
    assert ok(named) == {"counterId": SAMPLE_COUNTER, **sample_body}
    issued = ok(call("issue_counter_token"), 201)
    assert set(issued) == TOKEN_KEYS
    assert (issued["number"], issued["label"], issued["status"], issued["source"]) == (1, "R-1", "WAITING", "DESK")
    assert (issued["patientId"], issued["calledAt"], issued["servedAt"]) == (PATIENT, None, None)
    called = ok(call("counter_call_next"))
    assert called["served"] is None and called["called"]["label"] == "R-1"
    assert [t["status"] for t in ok(call("get_counter_queue"))["tokens"]] == ["CALLED"]
    shown = call("get_counter_board")
    assert ok(shown) == {
        "counterId": SAMPLE_COUNTER,
        "name": sample_body["name"],
        "date": desk.today().isoformat(),
        "calling": "R-1",
        "next": [],
        "waiting": 0,
    }
    assert shown.headers["Cache-Control"] == "public, max-age=1"  # as the doctors' board
    assert all(call(name).headers["Cache-Control"] == "no-store" for name in ("get_counter_queue", "put_counter"))


# -- roles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COUNTER_HANDLERS)
@pytest.mark.parametrize("role", [None, "patient", "reception", "admin", "[doctor]"])
def test_who_may_call_each_counter_route(name: str, role: str | None, clock: Clock) -> None:
    everyone: set[str | None] = {None, "patient", "reception", "admin", "[doctor]"}
    by_route: dict[str, set[str | None]] = {"put_counter": {"admin"}, "get_counter_board": everyone}
    allowed = by_route.get(name, {"reception", "admin"})
    answer = call(name, event(name, role=role))
    if role in allowed:
        assert answer.status == (201 if name == "issue_counter_token" else 200), answer.body
    elif role is None:
        assert (answer.status, answer.code) == (401, "UNAUTHORIZED")
    else:
        assert (answer.status, answer.code) == (403, "FORBIDDEN")


def test_a_refused_caller_issues_and_calls_nothing(clock: Clock) -> None:
    assert issue("reg-1", role="patient").status == 403
    assert call("counter_call_next", event("counter_call_next", path={"counterId": "reg-1"}, role=None)).status == 401
    assert put("reg-1", {"name": "Registration 1"}, role="reception").status == 403
    assert ok(queue("reg-1"))["tokens"] == []
    assert ok(board("reg-1"))["name"] == "reg-1"  # no record was made


# -- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COUNTER_HANDLERS)
@pytest.mark.parametrize("bad", ["a b", "x" * 65, "régistration"])
def test_a_counter_id_outside_the_pattern_is_a_400_naming_it(name: str, bad: str, clock: Clock) -> None:
    answer = call(name, event(name, path={"counterId": bad}))
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [detail["field"] for detail in answer.details] == ["counterId"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["name"]),
        ({"name": 7}, ["name"]),
        ({"name": " "}, ["name"]),
        ({"name": "x" * 61}, ["name"]),
        ({"name": "Registration", "prefix": "r"}, ["prefix"]),
        ({"name": "Registration", "prefix": "ABCD"}, ["prefix"]),
        ({"name": "Registration", "prefix": 1}, ["prefix"]),
        ({"name": "Registration", "room": "1"}, ["room"]),
        ("[]", ["body"]),
    ],
)
def test_a_bad_counter_is_a_400_naming_the_field_and_records_nothing(
    body: Any, fields: list[str], clock: Clock
) -> None:
    answer = put("reg-1", body)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [detail["field"] for detail in answer.details] == fields
    assert ok(board("reg-1"))["name"] == "reg-1"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"patientId": "a b"}, ["patientId"]),
        ({"patientId": 7}, ["patientId"]),
        ({"who": "x"}, ["who"]),
        ("[]", ["body"]),
    ],
)
def test_a_bad_token_request_is_a_400_and_issues_nothing(body: Any, fields: list[str], clock: Clock) -> None:
    ev = event("issue_counter_token", path={"counterId": "reg-1"}, body=body)
    answer = call("issue_counter_token", ev)
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [detail["field"] for detail in answer.details] == fields
    assert ok(queue("reg-1"))["tokens"] == []


def test_a_token_without_a_body_or_patient_is_for_whoever_is_at_the_desk(clock: Clock) -> None:
    ev = event("issue_counter_token", path={"counterId": "reg-1"}, body=None)
    assert ok(call("issue_counter_token", ev), 201)["patientId"] is None
    assert ok(issue("reg-1"), 201)["number"] == 2


@pytest.mark.parametrize("name", ["get_counter_queue", "get_counter_board"])
def test_a_date_outside_the_window_is_a_400_naming_it(name: str, clock: Clock) -> None:
    window = Window.around(clock.now, runtime.settings().clinic_zone)  # yesterday to 5 years on
    for bad in [window.first_day - timedelta(days=1), window.last_day + timedelta(days=1)]:
        answer = call(name, event(name, query={"date": bad.isoformat()}))
        assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), (bad, answer.body)
        assert [detail["field"] for detail in answer.details] == ["date"]
    for odd in ["2030-1-7", "2030-01-07T00:00", "tomorrow"]:
        answer = call(name, event(name, query={"date": odd}))
        assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), (odd, answer.body)
    for fine in [window.first_day, today(clock), window.last_day]:
        assert call(name, event(name, query={"date": fine.isoformat()})).status == 200, fine


# -- a day at the counter --------------------------------------------------------------------------------


@pytest.fixture
def asha(handler_runtime: None) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    made = register(PATIENT, {"name": ASHA, "phone": "+919876500001"}, now, now.year)
    assert runtime.patient_store().insert(made)
    return made.patient_id


def test_issue_call_and_serve_in_number_order_with_names(clock: Clock, asha: str) -> None:
    assert ok(put("reg-a", {"name": "Registration A", "prefix": "A"})) == {
        "counterId": "reg-a",
        "name": "Registration A",
        "prefix": "A",
    }
    first = ok(issue("reg-a", asha), 201)
    assert (first["label"], first["patientName"], first["date"]) == ("A-1", ASHA, today(clock).isoformat())
    assert first["expiresAt"] == f"{today(clock) + timedelta(days=1)}T00:00:00Z"  # the end of its day
    assert ok(issue("reg-a"), 201)["label"] == "A-2"
    assert ok(issue("reg-a", "pt-unregistered"), 201)["patientName"] is None

    clock.now += timedelta(minutes=5)
    opened = ok(call_next("reg-a"))
    assert opened["served"] is None
    assert (opened["called"]["label"], opened["called"]["patientName"]) == ("A-1", ASHA)
    assert opened["called"]["calledAt"] is not None

    moved = ok(call_next("reg-a"))
    assert (moved["served"]["label"], moved["served"]["status"]) == ("A-1", "SERVED")
    assert moved["served"]["servedAt"] is not None
    assert (moved["called"]["label"], moved["called"]["status"]) == ("A-2", "CALLED")
    assert ok(board("reg-a")) == {
        "counterId": "reg-a",
        "name": "Registration A",
        "date": today(clock).isoformat(),
        "calling": "A-2",
        "next": ["A-3"],
        "waiting": 1,
    }
    queued = ok(queue("reg-a"))
    assert [t["number"] for t in queued["tokens"]] == [1, 2, 3]
    assert [t["patientName"] for t in queued["tokens"]] == [ASHA, None, None]
    assert labels_and_statuses("reg-a") == [("A-1", "SERVED"), ("A-2", "CALLED"), ("A-3", "WAITING")]

    ok(call_next("reg-a"))
    last = ok(call_next("reg-a"))
    assert (last["served"]["label"], last["called"]) == ("A-3", None)
    empty = ok(call_next("reg-a"))  # nobody left: 200 with nothing served or called, nothing written
    assert empty == {"counterId": "reg-a", "served": None, "called": None}
    assert labels_and_statuses("reg-a") == [("A-1", "SERVED"), ("A-2", "SERVED"), ("A-3", "SERVED")]
    assert ok(board("reg-a"))["calling"] is None


def test_a_counter_without_a_record_works_and_a_new_prefix_labels_only_new_tokens(clock: Clock) -> None:
    assert ok(issue("reg-new"), 201)["label"] == "R-1"
    assert ok(board("reg-new"))["name"] == "reg-new"
    ok(put("reg-new", {"name": "New hall", "prefix": "NH"}))
    assert ok(issue("reg-new"), 201)["label"] == "NH-2"
    assert labels_and_statuses("reg-new") == [("R-1", "WAITING"), ("NH-2", "WAITING")]
    assert ok(put("reg-new", {"name": "New hall"}))["prefix"] == "R"  # replaced whole: no prefix is R
    assert ok(call_next("reg-new"))["called"]["label"] == "R-1"  # the call order is the numbers'


def test_numbers_are_per_counter_and_date(clock: Clock) -> None:
    assert [ok(issue("reg-1"), 201)["number"] for _ in range(3)] == [1, 2, 3]
    assert ok(issue("reg-2"), 201)["number"] == 1
    clock.now += timedelta(days=1)
    assert ok(issue("reg-1"), 201)["number"] == 1


def test_a_full_day_is_409_day_full_naming_the_counter_and_the_limit(clock: Clock) -> None:
    day = today(clock)
    days = runtime.mongo_client()[runtime.settings().mongodb_database]["counter_days"]
    days.insert_one({"_id": f"reg-full|{day}", "lastNumber": MAX_TOKENS_PER_DAY - 1})
    assert ok(issue("reg-full"), 201)["number"] == MAX_TOKENS_PER_DAY
    refused = issue("reg-full")
    assert (refused.status, refused.code) == (409, "DAY_FULL"), refused.body
    message = refused.body["error"]["message"]
    assert "reg-full" in message and str(MAX_TOKENS_PER_DAY) in message
    assert refused.details == [{"counterId": "reg-full", "date": day.isoformat(), "limit": MAX_TOKENS_PER_DAY}]
    assert [t["number"] for t in ok(queue("reg-full"))["tokens"]] == [MAX_TOKENS_PER_DAY]
    assert ok(issue("reg-other"), 201)["number"] == 1  # another counter's day is its own


def test_names_the_register_cannot_give_are_null_never_a_503(
    clock: Clock, asha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(issue("reg-1", asha), 201)

    def unreachable(ids: Any) -> dict[str, str]:
        raise DependencyUnavailable("mongo", "MongoDB unreachable: AutoReconnect")

    monkeypatch.setattr(runtime.counter_desk().patients, "names_of", unreachable)
    assert [t["patientName"] for t in ok(queue("reg-1"))["tokens"]] == [None]
    assert ok(issue("reg-1", asha), 201)["patientName"] is None


def test_the_board_names_no_patient(clock: Clock, asha: str) -> None:
    ok(issue("reg-1", asha), 201)
    ok(call_next("reg-1"))
    shown = ok(board("reg-1"))
    assert set(shown) == {"counterId", "name", "date", "calling", "next", "waiting"}
    assert PATIENT not in json.dumps(shown) and ASHA not in json.dumps(shown, ensure_ascii=False)


# -- the day after ---------------------------------------------------------------------------------------


def yesterday_s_counter(clock: Clock, counter_id: str) -> date:
    """Yesterday at the counter: three tokens, the first served, the second called, the third waiting."""
    clock.now = utc_now() - timedelta(days=1)
    for _ in range(3):
        ok(issue(counter_id), 201)
    ok(call_next(counter_id))
    ok(call_next(counter_id))
    day = today(clock)
    assert labels_and_statuses(counter_id, day) == [("R-1", "SERVED"), ("R-2", "CALLED"), ("R-3", "WAITING")]
    clock.now = utc_now()
    return day


def test_the_day_after_its_waiting_and_called_tokens_read_expired(clock: Clock) -> None:
    day = yesterday_s_counter(clock, "reg-1")
    assert labels_and_statuses("reg-1", day) == [("R-1", "SERVED"), ("R-2", "EXPIRED"), ("R-3", "EXPIRED")]
    assert ok(board("reg-1", day)) | {"name": "-"} == {
        "counterId": "reg-1",
        "name": "-",
        "date": day.isoformat(),
        "calling": None,
        "next": [],
        "waiting": 0,
    }
    assert ok(call_next("reg-1")) == {"counterId": "reg-1", "served": None, "called": None}  # today has none
    assert labels_and_statuses("reg-1", day)[1] == ("R-2", "EXPIRED")  # yesterday's untouched by today's call
    assert ok(issue("reg-1"), 201)["label"] == "R-1"  # today starts at 1


def sweep() -> dict[str, Any]:
    from functions.sweep_no_shows import app as sweeper

    result: dict[str, Any] = sweeper.lambda_handler({}, context())
    return result


def test_the_sweeper_expires_yesterday_s_waiting_and_called_tokens_once(clock: Clock, desk: CounterDesk) -> None:
    day = yesterday_s_counter(clock, "reg-1")
    yesterday_s_counter(clock, "reg-2")
    ok(issue("reg-1"), 201)  # today's token: the sweeper leaves it

    first = sweep()
    assert (first["marked"], first["counterTokensExpired"]) == (0, 4)
    stored = desk.store.day("reg-1", day)
    assert stored is not None
    assert [t.status for t in sorted(stored.tokens, key=lambda t: t.number)] == [
        TokenStatus.SERVED,
        TokenStatus.EXPIRED,
        TokenStatus.EXPIRED,
    ]
    days = runtime.mongo_client()[runtime.settings().mongodb_database]["counter_days"]
    assert days.find_one({"_id": f"reg-1|{day}"}, {"closed": 1}) == {"_id": f"reg-1|{day}", "closed": True}
    assert labels_and_statuses("reg-1") == [("R-1", "WAITING")]
    assert sweep()["counterTokensExpired"] == 0  # closed: the next run changes nothing


# -- no input causes a 5xx -------------------------------------------------------------------------------


@st.composite
def hostile_counter_events(draw: st.DrawFn, name: str) -> dict[str, Any]:
    path = {"counterId": draw(st.one_of(st.just("reg-1"), ids))}
    query = draw(st.one_of(st.none(), st.fixed_dictionaries({"date": odd_dates})))
    near = {"put_counter": {"name": "Registration 1", "prefix": "R"}, "issue_counter_token": {"patientId": "p-1"}}
    fields = st.fixed_dictionaries(
        {}, optional={"name": st.text(max_size=70), "prefix": st.text(max_size=5), "patientId": ids}
    )
    body = draw(st.one_of(st.none(), raw_bodies(), st.just(as_json(near.get(name, {}))), fields.map(as_json)))
    role = draw(st.sampled_from(ROLES))
    user = draw(st.one_of(st.just(PATIENT), ids.filter(bool))) if role else None
    headers: dict[str, str | None] = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    return event(name, path=path, body=body, role=role, user=user, headers=headers, query=query)


@pytest.mark.parametrize("name", COUNTER_HANDLERS)
def test_no_input_gets_a_server_error(name: str, clock: Clock) -> None:
    @settings(
        max_examples=40,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
    )
    @given(ev=hostile_counter_events(name))
    def property(ev: dict[str, Any]) -> None:
        answer = call(name, ev)
        assert answer.status < 500, (answer.status, answer.body)
        if answer.status >= 400:
            assert set(answer.body) == {"error"}

    property()
