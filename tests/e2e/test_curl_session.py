"""A newcomer's curl session against `make serve`: every call real HTTP, every token from the local Cognito."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
import requests
from moto.utilities.utils import load_resource

from demo import seed
from devserver.runner import LocalStack
from tests.e2e.support import Api, error_of

pytestmark = pytest.mark.xdist_group("e2e-curl-session")


def slot_full(answer: requests.Response, tier: str, limit: int, booked: int) -> None:
    assert answer.status_code == 409, answer.text
    error = error_of(answer)
    assert error["code"] == "SLOT_FULL"
    assert error["details"] == [{"tier": tier, "limit": limit, "booked": booked}]


def test_health_needs_no_token(api: Api) -> None:
    answer = api.call("GET", "/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "redis": "ok", "mongo": "ok"}


def test_each_tier_fills_to_its_own_limit(api: Api) -> None:
    slot = api.new_slot()
    assert slot["limits"] == {"STANDARD": 10, "PREMIUM": 12, "CRITICAL": 15}
    tokens = [api.book(slot["slotId"], ("ONLINE", "WALKIN")[i % 2]).json()["token"] for i in range(10)]
    slot_full(api.book(slot["slotId"], "ONLINE"), "STANDARD", 10, 10)

    tokens += [api.book(slot["slotId"], source).json()["token"] for source in ("PAID", "FOLLOWUP")]
    slot_full(api.book(slot["slotId"], "PAID"), "PREMIUM", 12, 12)

    tokens += [api.book(slot["slotId"], "EMERGENCY").json()["token"] for _ in range(3)]
    slot_full(api.book(slot["slotId"], "EMERGENCY"), "CRITICAL", 15, 15)

    assert tokens == list(range(1, 16))
    after = api.call("GET", f"/slots/{slot['slotId']}").json()
    assert after["booked"] == 15
    assert after["available"] == {"STANDARD": 0, "PREMIUM": 0, "CRITICAL": 0}


def test_queue_calls_critical_first_then_by_token(api: Api) -> None:
    slot = api.new_slot()
    for source in ("ONLINE", "EMERGENCY", "PAID", "EMERGENCY", "WALKIN"):
        assert api.book(slot["slotId"], source).status_code == 201

    answer = api.as_role("reception", "GET", f"/slots/{slot['slotId']}/queue")
    assert answer.status_code == 200
    assert answer.json()["slotId"] == slot["slotId"]
    assert [(entry["token"], entry["tier"]) for entry in answer.json()["queue"]] == [
        (2, "CRITICAL"),
        (4, "CRITICAL"),
        (1, "STANDARD"),
        (3, "PREMIUM"),
        (5, "STANDARD"),
    ]


def test_a_delay_on_a_fresh_slot_lowers_its_limits(api: Api) -> None:
    slot = api.new_slot()
    answer = api.as_role("admin", "PUT", f"/slots/{slot['slotId']}/delay", {"delayed": True, "minutes": 30})
    assert answer.status_code == 200, answer.text
    assert answer.json()["delayed"] is True
    assert answer.json()["limits"] == {"STANDARD": 8, "PREMIUM": 10, "CRITICAL": 15}

    for _ in range(8):
        assert api.book(slot["slotId"], "ONLINE").status_code == 201
    slot_full(api.book(slot["slotId"], "WALKIN"), "STANDARD", 8, 8)


def test_a_cancellation_frees_a_place_at_once_and_the_next_booking_gets_a_new_token(api: Api) -> None:
    slot = api.new_slot()
    bookings = [api.book(slot["slotId"], "ONLINE").json() for _ in range(10)]
    slot_full(api.book(slot["slotId"], "ONLINE"), "STANDARD", 10, 10)

    cancelled = api.as_role("reception", "POST", f"/bookings/{bookings[2]['bookingId']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"

    again = api.book(slot["slotId"], "ONLINE")
    assert again.status_code == 201
    assert again.json()["token"] == 11  # token 3 is never given out again
    slot_full(api.book(slot["slotId"], "ONLINE"), "STANDARD", 10, 10)


def test_check_in_complete_and_no_show(api: Api) -> None:
    slot = api.new_slot()
    seen, missed = (api.book(slot["slotId"], "ONLINE").json()["bookingId"] for _ in range(2))

    def move(booking_id: str, action: str) -> requests.Response:
        return api.as_role("reception", "POST", f"/bookings/{booking_id}/{action}")

    assert move(seen, "check-in").json()["status"] == "CHECKED_IN"
    assert move(seen, "complete").json()["status"] == "COMPLETED"
    assert move(missed, "no-show").json()["status"] == "NO_SHOW"

    refused = move(missed, "cancel")
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "INVALID_TRANSITION"
    assert api.call("GET", f"/slots/{slot['slotId']}").json()["booked"] == 1  # the consultation keeps its place


def test_the_room_call_next_skip_complete_and_the_board_without_a_token(api: Api) -> None:
    slot = api.new_slot()
    walk_in, emergency, late = (api.book(slot["slotId"], source).json() for source in ("WALKIN", "EMERGENCY", "ONLINE"))

    def post(path: str) -> dict[str, Any]:
        answer = api.as_role("reception", "POST", path)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    for booking in (walk_in, emergency):
        post(f"/bookings/{booking['bookingId']}/check-in")
    first = post(f"/slots/{slot['slotId']}/call-next")
    assert (first["completed"], first["called"]["token"], first["called"]["position"]) == (None, 2, 0)
    assert first["called"]["history"][-1]["by"] == "reception-e2e"

    skipped = post(f"/bookings/{emergency['bookingId']}/skip")  # not in the room: to the end of its group
    assert (skipped["status"], skipped["skips"]) == ("CHECKED_IN", 1)
    second = post(f"/slots/{slot['slotId']}/call-next")
    assert (second["completed"], second["called"]["token"]) == (None, 2)  # still the only CRITICAL one

    done = post(f"/bookings/{emergency['bookingId']}/complete")
    assert (done["status"], done["position"]) == ("COMPLETED", None)
    third = post(f"/slots/{slot['slotId']}/call-next")
    assert (third["completed"], third["called"]["token"]) == (None, 1)

    day = datetime.fromisoformat(slot["start"]).date().isoformat()
    board = api.call("GET", f"/boards/{slot['doctorId']}?date={day}")  # no token: the screens are public
    assert board.status_code == 200, board.text
    assert board.headers["cache-control"] == "public, max-age=1"
    [line] = board.json()["slots"]
    assert (line["slotId"], line["calling"], line["next"], line["waiting"]) == (slot["slotId"], 1, [], 0)
    assert all(b["patientId"] not in board.text for b in (walk_in, emergency, late))
    queue = api.as_role("reception", "GET", f"/slots/{slot['slotId']}/queue").json()["queue"]
    assert [(b["token"], b["status"], b["position"]) for b in queue] == [(1, "CALLED", 0), (3, "BOOKED", 1)]
    assert api.call("POST", f"/slots/{slot['slotId']}/call-next").status_code == 401  # the room is staff's
    refused = api.call("POST", f"/slots/{slot['slotId']}/call-next", token=api.token("patient", "pat-room"))
    assert (refused.status_code, error_of(refused)["code"]) == (403, "FORBIDDEN")


def test_an_admin_opens_a_weeks_sessions_and_records_a_days_leave(api: Api) -> None:
    doctor, first = f"dr-{uuid.uuid4().hex[:8]}", (datetime.now(UTC) + timedelta(days=7)).date()
    body = {
        "from": first.isoformat(),
        "to": (first + timedelta(days=6)).isoformat(),  # seven days: one of each weekday
        "weekdays": ["MON", "WED", "FRI"],
        "start": "09:00",
        "end": "10:00",
        "slotMinutes": 15,
    }
    opened = api.as_role("admin", "POST", f"/doctors/{doctor}/sessions", body)
    assert opened.status_code == 201, opened.text
    created = opened.json()["created"]
    assert (len(created), opened.json()["existing"]) == (3 * 4, [])
    assert {datetime.fromisoformat(s["start"]).strftime("%a %H:%M") for s in created} >= {"Mon 09:00", "Fri 09:45"}
    again = api.as_role("admin", "POST", f"/doctors/{doctor}/sessions", body)
    assert (again.status_code, again.json()) == (201, {"created": [], "existing": [s["slotId"] for s in created]})
    refused = api.as_role("reception", "POST", f"/doctors/{doctor}/sessions", body)
    assert (refused.status_code, error_of(refused)["code"]) == (403, "FORBIDDEN")

    monday = [s for s in created if datetime.fromisoformat(s["start"]).weekday() == 0]
    day = monday[0]["start"][:10]
    booked = [api.book(monday[0]["slotId"], source).json() for source in ("ONLINE", "EMERGENCY")]
    api.as_role("reception", "POST", f"/bookings/{booked[1]['bookingId']}/check-in")
    leave = api.as_role("admin", "POST", f"/doctors/{doctor}/leave", {"date": day, "reason": "conference"})
    assert leave.status_code == 200, leave.text
    assert leave.json()["slots"] == 4
    cancelled = leave.json()["cancelled"]
    assert {b["bookingId"] for b in cancelled} == {b["bookingId"] for b in booked}
    assert {(b["status"], b["cancelReason"]) for b in cancelled} == {("CANCELLED", "DOCTOR_UNAVAILABLE")}
    repeat = api.as_role("admin", "POST", f"/doctors/{doctor}/leave", {"date": day})
    assert (repeat.status_code, repeat.json()) == (200, {"slots": 4, "cancelled": []})

    late = api.book(monday[1]["slotId"], "EMERGENCY")
    assert (late.status_code, error_of(late)["code"]) == (409, "SLOT_CLOSED")
    board = api.call("GET", f"/boards/{doctor}?date={day}")  # the waiting room sees the leave
    assert [line["closed"] for line in board.json()["slots"]] == [True] * 4
    assert api.call("GET", f"/slots/{monday[0]['slotId']}").json()["closed"] is True


def test_the_sweeper_marks_what_is_past_its_grace_once(api: Api) -> None:
    # The only slot of this module that starts this soon: the other tests' slots start hours later.
    slot = api.new_slot(starts_in=timedelta(minutes=30))
    ids = [api.book(slot["slotId"], "ONLINE").json()["bookingId"] for _ in range(4)]
    api.as_role("reception", "POST", f"/bookings/{ids[0]}/check-in")
    api.as_role("reception", "POST", f"/bookings/{ids[1]}/cancel")

    before_grace = datetime.fromisoformat(slot["start"]) + timedelta(minutes=14)
    assert api.call("POST", "/_local/sweep", body={"now": before_grace.isoformat()}).json() == {"marked": 0}

    after_grace = datetime.fromisoformat(slot["start"]) + timedelta(minutes=16)
    first = api.call("POST", "/_local/sweep", body={"now": after_grace.isoformat()})
    assert first.status_code == 200
    assert first.json() == {"marked": 2}
    assert api.call("POST", "/_local/sweep", body={"now": after_grace.isoformat()}).json() == {"marked": 0}

    statuses = [api.as_role("reception", "GET", f"/bookings/{booking_id}").json()["status"] for booking_id in ids]
    assert statuses == ["CHECKED_IN", "CANCELLED", "NO_SHOW", "NO_SHOW"]


def test_a_patient_books_online_for_themselves_only(api: Api) -> None:
    slot = api.new_slot()
    me, other = f"pat-{uuid.uuid4().hex[:6]}", f"pat-{uuid.uuid4().hex[:6]}"

    walk_in = api.book(slot["slotId"], "WALKIN", patient_id=me, role="patient")
    assert walk_in.status_code == 403
    assert error_of(walk_in)["code"] == "FORBIDDEN"
    mine = api.call(
        "POST",
        "/bookings",
        token=api.token("patient", me),
        body={"slotId": slot["slotId"], "patientId": me, "source": "ONLINE"},
    )
    assert mine.status_code == 201, mine.text
    for_someone_else = api.call(
        "POST",
        "/bookings",
        token=api.token("patient", me),
        body={"slotId": slot["slotId"], "patientId": other, "source": "ONLINE"},
    )
    assert for_someone_else.status_code == 403

    booking = f"/bookings/{mine.json()['bookingId']}"
    assert api.call("GET", booking, token=api.token("patient", me)).status_code == 200
    # Another patient's booking is answered as an unknown one: nothing says that it exists.
    theirs = api.call("GET", booking, token=api.token("patient", other))
    unknown = api.call("GET", f"{booking}0", token=api.token("patient", other))
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert theirs.json()["error"] | {"message": ""} == unknown.json()["error"] | {"message": ""}
    assert api.call("GET", f"/slots/{slot['slotId']}/queue", token=api.token("patient", me)).status_code == 403
    assert api.call("POST", f"{booking}/cancel", token=api.token("patient", me)).json()["status"] == "CANCELLED"


def test_the_waitlist_and_a_patients_bookings(api: Api) -> None:
    slot = api.new_slot(baseCapacity=1, premiumBuffer=0, emergencyBuffer=0)
    asha, ravi = f"pat-{uuid.uuid4().hex[:6]}", f"pat-{uuid.uuid4().hex[:6]}"

    def booking(patient: str, **more: Any) -> requests.Response:
        body = {"slotId": slot["slotId"], "patientId": patient, "source": "ONLINE", **more}
        return api.call("POST", "/bookings", token=api.token("patient", patient), body=body)

    held = booking(asha)
    assert (held.status_code, held.json()["token"]) == (201, 1)
    slot_full(booking(ravi), "STANDARD", 1, 1)
    waiting = booking(ravi, waitlist=True)  # a patient joins the waitlist for themselves
    assert waiting.status_code == 201, waiting.text
    assert {k: waiting.json()[k] for k in ("status", "token", "waitlistPosition")} == {
        "status": "WAITLISTED",
        "token": None,
        "waitlistPosition": 1,
    }
    assert api.call("GET", f"/slots/{slot['slotId']}").json()["waitlisted"] == 1
    listed = api.as_role("reception", "GET", f"/slots/{slot['slotId']}/waitlist")
    assert listed.status_code == 200, listed.text
    assert [b["bookingId"] for b in listed.json()["waitlist"]] == [waiting.json()["bookingId"]]
    refused = api.call("GET", f"/slots/{slot['slotId']}/waitlist", token=api.token("patient", ravi))
    assert (refused.status_code, error_of(refused)["code"]) == (403, "FORBIDDEN")

    cancelled = api.call("POST", f"/bookings/{held.json()['bookingId']}/cancel", token=api.token("patient", asha))
    assert (cancelled.json()["status"], cancelled.json()["cancelReason"]) == ("CANCELLED", "PATIENT")
    promoted = api.call("GET", f"/bookings/{waiting.json()['bookingId']}", token=api.token("patient", ravi)).json()
    assert (promoted["status"], promoted["token"], promoted["waitlistPosition"]) == ("BOOKED", 2, None)

    day = slot["start"][:10]
    mine = api.call("GET", f"/patients/{ravi}/bookings?from={day}&to={day}", token=api.token("patient", ravi))
    assert mine.status_code == 200, mine.text
    assert [(b["bookingId"], b["status"]) for b in mine.json()["bookings"]] == [(promoted["bookingId"], "BOOKED")]
    assert api.as_role("reception", "GET", f"/patients/{asha}/bookings").json()["bookings"][0]["status"] == "CANCELLED"
    theirs = api.call("GET", f"/patients/{asha}/bookings", token=api.token("patient", ravi))
    assert (theirs.status_code, error_of(theirs)["code"]) == (403, "FORBIDDEN")
    too_long = api.as_role("admin", "GET", f"/patients/{ravi}/bookings?from={day}&to=2099-01-01")
    assert (too_long.status_code, error_of(too_long)["details"][0]["field"]) == (400, "to")


def test_an_idempotency_key_replays_the_first_answer(api: Api) -> None:
    slot = api.new_slot()
    body = {"slotId": slot["slotId"], "patientId": "p-idem", "source": "PAID"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.as_role("reception", "POST", "/bookings", body, headers=key)
    again = api.as_role("reception", "POST", "/bookings", body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["bookingId"] == first.json()["bookingId"]
    assert api.call("GET", f"/slots/{slot['slotId']}").json()["booked"] == 1


def test_concurrent_bookings_never_overfill_a_slot(api: Api) -> None:
    slot = api.new_slot()

    def book_until_answered(patient: int) -> requests.Response:
        session = Api(api.url, tokens=api.tokens)  # a connection of its own, like a separate client
        while True:
            answer = session.book(slot["slotId"], "ONLINE", patient_id=f"p-{patient}")
            if answer.status_code != 429:  # SLOT_BUSY: the lock wait ran out; try again soon
                return answer
            time.sleep(0.05)

    api.token("reception")
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(book_until_answered, range(30)))

    assert sorted(answer.status_code for answer in answers) == [201] * 10 + [409] * 20
    assert sorted(answer.json()["token"] for answer in answers if answer.status_code == 201) == list(range(1, 11))
    assert api.call("GET", f"/slots/{slot['slotId']}").json()["booked"] == 10


# -- the gateway's own answers ---------------------------------------------------------------------


def moto_signed(claims: dict[str, object]) -> str:
    """A token signed with the local Cognito's own key (moto's, public in its package), with any claims."""
    key = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": "dummy"})


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda claims: "not-a-jwt", id="garbage"),
        pytest.param(lambda claims: moto_signed({**claims, "exp": int(time.time()) - 60}), id="expired"),
        pytest.param(lambda claims: moto_signed({**claims, "client_id": "another-app"}), id="another-client"),
        pytest.param(lambda claims: moto_signed({**claims, "iss": "https://example.org/pool"}), id="another-issuer"),
    ],
)
def test_a_bad_token_is_refused_before_the_function_runs(
    api: Api, stack: LocalStack, forge: Callable[[dict[str, object]], str]
) -> None:
    valid = jwt.decode(stack.token("admin", "forger"), options={"verify_signature": False})
    assert api.call("GET", "/bookings/b-1", token=moto_signed(valid)).status_code == 404  # the forging works
    answer = api.call("GET", "/bookings/b-1", token=forge(valid))
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized"}  # API Gateway's JWT authorizer answers in its own words


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "text/plain"])
def test_a_body_that_is_not_json_is_a_validation_error(api: Api, content_type: str) -> None:
    # API Gateway hands an application/octet-stream body over base64-encoded: the function must cope.
    headers = {"Authorization": f"Bearer {api.token('admin')}", "Content-Type": content_type}
    answer = api.session.post(f"{api.url}/slots", data=b"\xff\xfe{", headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert error_of(answer)["code"] == "VALIDATION_ERROR"


def test_a_chunked_body_is_read_on_a_connection_kept_alive(api: Api) -> None:
    # A body of unknown length goes chunked (curl -H 'Transfer-Encoding: chunked'); benchmarks reuse connections.
    connection = http.client.HTTPConnection(urlsplit(api.url).netloc, timeout=30)
    body = json.dumps({"role": "admin", "user": "chunked"}).encode()
    sockets = []
    for _ in range(2):
        connection.request(
            "POST", "/_local/token", body=iter([body[:9], body[9:]]), headers={"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        assert (answer.status, answer.getheader("transfer-encoding")) == (200, None)
        assert "token" in json.loads(answer.read())
        sockets.append(connection.sock)
    connection.close()
    assert sockets[0] is not None and sockets[0] is sockets[1]  # the second request went over the same connection


def test_no_token_is_401_and_a_public_route_needs_none(api: Api) -> None:
    answer = api.call("POST", "/bookings", body={"slotId": "s-1", "patientId": "p-1", "source": "ONLINE"})
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized"}
    assert api.call("GET", "/slots/no-such-slot").status_code == 404


def test_unknown_routes_and_methods_are_404(api: Api) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/slots/s-1"), ("GET", "/bookings")):
        answer = api.call(method, path, token=api.token("admin"))
        assert answer.status_code == 404, (method, path)
        assert error_of(answer)["code"] == "NOT_FOUND"


def test_local_token_checks_the_role(api: Api) -> None:
    answer = api.call("POST", "/_local/token", body={"role": "doctor", "user": "x"})
    assert answer.status_code == 400
    assert error_of(answer)["details"][0]["field"] == "role"


def test_swagger_ui_loads_the_document(api: Api) -> None:
    assert "swagger-ui" in api.call("GET", "/docs").text
    document = api.call("GET", "/openapi.json").json()
    assert document["servers"][0]["url"] == api.url
    assert "/bookings" in document["paths"]


def test_a_browser_preflight_is_answered_from_the_templates_cors_configuration(api: Api) -> None:
    origin = {"Origin": "http://localhost:5173"}
    preflight = api.call("OPTIONS", "/bookings", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert api.call("GET", "/health", headers=origin).headers["access-control-allow-origin"] == "*"


def test_make_seed_can_run_twice(api: Api) -> None:
    # Tomorrow, so every clinic hour is still ahead whatever the clock says now.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    day = seed.plan(tomorrow, ZoneInfo("UTC"), datetime.now(UTC))
    assert len(day) == len(seed.DOCTORS) * (seed.CLOSES - seed.OPENS)
    assert seed.seed(api.url, day) == (len(day), 0)
    assert seed.seed(api.url, day) == (0, len(day))
    slots = api.call("GET", f"/doctors/{seed.DOCTORS[0]}/slots?date={tomorrow}").json()["slots"]
    assert [slot["start"][11:16] for slot in slots] == [f"{hour:02d}:00" for hour in range(seed.OPENS, seed.CLOSES)]
    # Each doctor recorded once, before their slots: the directory by department then name, the board by name.
    directory = api.call("GET", "/doctors").json()["doctors"]
    assert [(d["doctorId"], d["name"], d["room"]) for d in directory] == [
        (doctor_id, record["name"], record["room"])
        for doctor_id, record in sorted(seed.DIRECTORY.items(), key=lambda item: item[1]["department"])
    ]
    board = api.call("GET", f"/boards/{seed.DOCTORS[0]}?date={tomorrow}").json()
    assert (board["doctorName"], board["room"]) == (seed.DIRECTORY[seed.DOCTORS[0]]["name"], "OPD-1")
