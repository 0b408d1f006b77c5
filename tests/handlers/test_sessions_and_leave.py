"""Doctors' sessions and leave through their handlers (contract, "Sessions and leave"; issue 12).

POST /doctors/{doctorId}/sessions: the weekdays chosen, the clinic's time zone across a change of its
offset, a repeat, the 500-slot limit and every bound. At most 100 slots a doctor on one date, by session
or POST /slots (DAY_FULL). POST /doctors/{doctorId}/leave: what it closes and cancels and what it leaves,
a repeat, a request cut off by a busy slot that a repeat finishes, and a crowded day in one request.

"Today" is the handlers' own clock, fixed as in test_input_bounds.py, so the window and the dates here
hold on any day; the slots and bookings set up beside the handlers are made by the same allocator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import redis

from opd import runtime, store
from opd.api.observability import logger
from opd.domain import Capacity, Relayed, Slot, Source, Status
from opd.service import Allocator
from tests.handlers.support import SLOT_KEYS, call, close_runtime, event
from tests.support.crowded import crowded_day
from tests.support.events import RecordingPublisher
from tests.support.roundtrips import CountingRedis, MongoCommandCounter, Trail

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # the window: 2026-11-20 to 2031-11-21, clinic time
WINDOW_UTC = "must be from 2026-11-20 to 2031-11-21, clinic time (UTC): at most 1 day back and 5 years ahead"
ADMIN = "admin-leave"
MONDAY = date(2027, 1, 4)


@pytest.fixture
def clinic(monkeypatch: pytest.MonkeyPatch, handler_runtime: None) -> Callable[[str], Allocator]:
    """Puts the handlers' runtime in a clinic of the given zone, on the fixed clock; returns its allocator."""

    def in_zone(zone: str) -> Allocator:
        monkeypatch.setenv("CLINIC_TIME_ZONE", zone)
        close_runtime()  # the settings are read again, as a new execution environment would
        service = runtime.allocator()
        monkeypatch.setattr(service, "clock", lambda: NOW)
        return service

    return in_zone


@pytest.fixture
def service(clinic: Callable[[str], Allocator]) -> Allocator:
    return clinic("UTC")


def sessions(doctor_id: str, user: str = ADMIN, **fields: Any) -> Any:
    body = {"from": "2027-01-04", "to": "2027-01-04", "start": "09:00", "end": "10:00", "slotMinutes": 30} | fields
    return call(
        "open_sessions", event("open_sessions", path={"doctorId": doctor_id}, body=body, role="admin", user=user)
    )


def leave(doctor_id: str, day: str, user: str = ADMIN, **fields: Any) -> Any:
    body = {"date": day, **fields}
    return call("take_leave", event("take_leave", path={"doctorId": doctor_id}, body=body, role="admin", user=user))


def starts(answer: Any) -> list[str]:
    return [slot["start"] for slot in answer.body["created"]]


def day_slots(doctor_id: str, day: str) -> list[dict[str, Any]]:
    answer = call("list_doctor_slots", event("list_doctor_slots", path={"doctorId": doctor_id}, query={"date": day}))
    assert answer.status == 200, answer.body
    slots: list[dict[str, Any]] = answer.body["slots"]
    return slots


def fields(answer: Any) -> list[str]:
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), (answer.status, answer.body)
    return [d["field"] for d in answer.details]


# -- sessions ----------------------------------------------------------------------------------------------


def test_a_session_makes_a_slot_per_step_on_the_chosen_weekdays_only(service: Allocator, doctor_id: str) -> None:
    answer = sessions(doctor_id, to="2027-01-17", weekdays=["WED", "MON"], end="10:00", slotMinutes=20, baseCapacity=5)
    assert answer.status == 201, answer.body
    assert set(answer.body) == {"created", "existing"} and answer.body["existing"] == []
    created = answer.body["created"]
    assert all(set(slot) == SLOT_KEYS for slot in created)
    days = ["2027-01-04", "2027-01-06", "2027-01-11", "2027-01-13"]  # Mondays and Wednesdays of two weeks
    assert starts(answer) == [f"{day}T{time}Z" for day in days for time in ("09:00:00", "09:20:00", "09:40:00")]
    assert all(
        datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"]) == timedelta(minutes=20) for s in created
    )
    assert {s["doctorId"] for s in created} == {doctor_id}
    assert created[0]["capacity"] == {"base": 5, "premiumBuffer": 2, "emergencyBuffer": 3}
    assert (created[0]["closed"], created[0]["booked"], created[0]["waitlisted"]) == (False, 0, 0)
    assert [s["slotId"] for s in day_slots(doctor_id, "2027-01-11")] == [s["slotId"] for s in created[6:9]]
    assert day_slots(doctor_id, "2027-01-05") == []  # a Tuesday


def test_without_weekdays_every_day_gets_its_slots_and_a_short_last_piece_none(
    service: Allocator, doctor_id: str
) -> None:
    answer = sessions(doctor_id, to="2027-01-10", start="09:00", end="09:50", slotMinutes=20)
    assert answer.status == 201, answer.body
    assert len(answer.body["created"]) == 7 * 2  # 09:00 and 09:20; 09:40-10:00 would end after 09:50
    assert {s["start"][:10] for s in answer.body["created"]} == {f"2027-01-{d:02d}" for d in range(4, 11)}


def test_a_repeat_creates_nothing_more_and_lists_what_exists_in_the_sessions_order(
    service: Allocator, doctor_id: str
) -> None:
    first = sessions(doctor_id, to="2027-01-05")
    assert (first.status, len(first.body["created"])) == (201, 4)
    ids = [s["slotId"] for s in first.body["created"]]

    again = sessions(doctor_id, to="2027-01-05")
    assert (again.status, again.body) == (201, {"created": [], "existing": ids})

    longer = sessions(doctor_id, to="2027-01-06")  # one day more: only that day is new
    assert (longer.body["existing"], starts(longer)) == (ids, ["2027-01-06T09:00:00Z", "2027-01-06T09:30:00Z"])
    assert service.store.collection.count_documents({"doctorId": doctor_id}) == 6


def test_a_slot_made_by_hand_is_left_as_it_is(service: Allocator, doctor_id: str) -> None:
    mine = service.create_slot(
        doctor_id, datetime(2027, 1, 4, 9, 30, tzinfo=UTC), datetime(2027, 1, 4, 9, 45, tzinfo=UTC), Capacity(base=1)
    )
    answer = sessions(doctor_id)
    assert (starts(answer), answer.body["existing"]) == (["2027-01-04T09:00:00Z"], [mine.slot_id])
    assert service.get_slot(mine.slot_id) == mine  # its 15 minutes and its capacity of 1 kept


def test_nine_stays_nine_local_across_the_change_to_summer_time(
    clinic: Callable[[str], Allocator], doctor_id: str
) -> None:
    clinic("Europe/London")  # BST (UTC+1) from 01:00 UTC on Sunday 28 March 2027
    answer = sessions(doctor_id, **{"from": "2027-03-25", "to": "2027-03-30"}, end="09:30")
    assert starts(answer) == [
        "2027-03-25T09:00:00Z",
        "2027-03-26T09:00:00Z",
        "2027-03-27T09:00:00Z",
        "2027-03-28T08:00:00Z",  # 09:00 BST
        "2027-03-29T08:00:00Z",
        "2027-03-30T08:00:00Z",
    ]


def test_a_start_the_clock_skips_has_no_slot(clinic: Callable[[str], Allocator], doctor_id: str) -> None:
    clinic("Europe/London")  # on 28 March 2027 the clocks go from 01:00 GMT to 02:00 BST
    answer = sessions(doctor_id, **{"from": "2027-03-28", "to": "2027-03-28"}, start="00:00", end="03:00")
    # Local 00:00, 00:30, (01:00 and 01:30 do not exist), 02:00, 02:30: each 30 minutes of real time.
    assert starts(answer) == [
        "2027-03-28T00:00:00Z",
        "2027-03-28T00:30:00Z",
        "2027-03-28T01:00:00Z",
        "2027-03-28T01:30:00Z",
    ]
    assert [s["end"] for s in answer.body["created"]][-1] == "2027-03-28T02:00:00Z"


def test_the_day_the_clocks_go_back_is_read_in_the_clinics_zone(
    clinic: Callable[[str], Allocator], doctor_id: str
) -> None:
    clinic("Europe/London")  # on 31 October 2027 the clocks go from 02:00 BST back to 01:00 GMT
    answer = sessions(doctor_id, **{"from": "2027-10-31", "to": "2027-10-31"}, start="00:00", end="03:00")
    # An ambiguous 01:00 and 01:30 are their first occurrence (BST); 02:00 and 02:30 are GMT.
    expected = ["2027-10-30T23:00:00Z", "2027-10-30T23:30:00Z", "2027-10-31T00:00:00Z"]
    expected += ["2027-10-31T00:30:00Z", "2027-10-31T02:00:00Z", "2027-10-31T02:30:00Z"]
    assert starts(answer) == expected
    # 23:00 UTC on the 30th is 00:00 on the 31st in London: the day's list has all six.
    assert [s["start"] for s in day_slots(doctor_id, "2027-10-31")] == expected


def test_the_window_is_the_clinics_days(clinic: Callable[[str], Allocator], doctor_id: str) -> None:
    clinic("Asia/Kolkata")  # 09:00 UTC on 21 November is 14:30 there: the same window, in its own words
    answer = sessions(doctor_id, **{"from": "2026-11-19", "to": "2026-11-20"})
    assert fields(answer) == ["from"]
    assert answer.details[0]["message"].startswith("must be from 2026-11-20 to 2031-11-21, clinic time (Asia/Kolkata)")


def test_500_slots_are_made_in_one_request_and_more_are_refused(service: Allocator, doctor_id: str) -> None:
    # 25 days of 08:00-13:00 in 15 minutes: 25 x 20 = 500.
    answer = sessions(doctor_id, to="2027-01-28", start="08:00", end="13:00", slotMinutes=15)
    assert (answer.status, len(answer.body["created"])) == (201, 500)

    other = f"{doctor_id}-b"
    refused = sessions(other, to="2027-01-28", start="08:00", end="13:15", slotMinutes=15)  # 25 x 21 = 525
    assert fields(refused) == ["to"]
    assert refused.details[0]["message"] == "the session makes 525 slots; at most 500 a request"
    assert service.store.collection.count_documents({"doctorId": other}) == 0


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"from": "2026-11-19"}, ["from"]),  # before the window
        ({"from": "2031-11-22", "to": "2031-11-22"}, ["from", "to"]),
        ({"from": "9999-12-31", "to": "9999-12-31"}, ["from", "to"]),  # the day after is out of datetime's range
        ({"from": "0001-01-01", "to": "0001-01-01"}, ["from", "to"]),
        ({"to": "2031-11-22"}, ["to"]),
        ({"from": "2027-1-4"}, ["from"]),
        ({"from": "2027-01-04T00:00"}, ["from"]),
        ({"to": "2027-02-30"}, ["to"]),
        ({"to": "2027-01-03"}, ["to"]),  # before from
        ({"to": "2027-04-07"}, ["to"]),  # 93 days after 4 January; the 6th (92) is the last allowed
        ({"weekdays": []}, ["weekdays"]),
        ({"weekdays": ["MON", "MON"]}, ["weekdays"]),
        ({"weekdays": ["MON", "mon"]}, ["weekdays.1"]),
        ({"weekdays": ["MONDAY"]}, ["weekdays.0"]),
        ({"weekdays": "MON"}, ["weekdays"]),
        ({"weekdays": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN", "MON"]}, ["weekdays"]),
        ({"start": "9:00"}, ["start"]),
        ({"start": "09:00:00"}, ["start"]),
        ({"start": "09:00Z"}, ["start"]),
        ({"start": "24:00", "end": "23:59"}, ["start"]),
        ({"start": 900}, ["start"]),
        ({"end": "09:00"}, ["end"]),  # not after start
        ({"end": "08:00"}, ["end"]),
        ({"slotMinutes": 4}, ["slotMinutes"]),
        ({"slotMinutes": 241}, ["slotMinutes"]),
        ({"slotMinutes": "30"}, ["slotMinutes"]),
        ({"slotMinutes": 30.0}, ["slotMinutes"]),
        ({"baseCapacity": 0}, ["baseCapacity"]),
        ({"emergencyBuffer": -1}, ["emergencyBuffer"]),
        (
            {"baseCapacity": 20, "premiumBuffer": 10, "emergencyBuffer": 1},
            ["baseCapacity", "premiumBuffer", "emergencyBuffer"],
        ),
        ({"doctorId": "dr-1"}, ["doctorId"]),  # the doctor is the path's
        ({"slot_minutes": 30}, ["slot_minutes"]),
        ({"first": "2027-01-04"}, ["first"]),  # the model's own name for `from` is no field
    ],
)
def test_session_bounds_name_each_field(
    service: Allocator, doctor_id: str, change: dict[str, Any], refused: list[str]
) -> None:
    answer = sessions(doctor_id, **change)
    assert sorted(fields(answer)) == sorted(refused)
    assert service.store.collection.count_documents({}) == 0


def test_a_session_may_span_92_days(service: Allocator, doctor_id: str) -> None:
    answer = sessions(doctor_id, to="2027-04-06", weekdays=["MON"])  # 4 January to 6 April, both included
    assert (answer.status, starts(answer)[-1]) == (201, "2027-04-05T09:30:00Z")


def test_a_session_needs_its_fields_and_a_doctor_id_in_the_pattern(service: Allocator) -> None:
    answer = call("open_sessions", event("open_sessions", path={"doctorId": "dr-1"}, body={}))
    assert sorted(fields(answer)) == ["end", "from", "slotMinutes", "start", "to"]
    assert fields(sessions("dr 1")) == ["doctorId"]
    window = sessions("dr-1", **{"from": "2026-11-19"})
    assert window.details == [{"field": "from", "message": WINDOW_UTC}]


# -- at most 100 slots a doctor on one date (DAY_FULL) ------------------------------------------------------


def create_slot(doctor_id: str, start: str, minutes: int = 5) -> Any:
    end = (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()
    body = {"doctorId": doctor_id, "start": start, "end": end}
    return call("create_slot", event("create_slot", body=body, role="admin", user=ADMIN))


def slots_on(service: Allocator, doctor_id: str, day: date) -> int:
    return len(service.doctor_slots(doctor_id, day))


def test_the_101st_slot_of_a_date_is_day_full_and_the_next_date_takes_slots(service: Allocator, doctor_id: str) -> None:
    full = sessions(doctor_id, start="08:00", end="16:20", slotMinutes=5)  # 100 slots of 5 minutes
    assert (full.status, len(full.body["created"])) == (201, 100)

    refused = create_slot(doctor_id, "2027-01-04T17:00:00+00:00")
    assert (refused.status, refused.code) == (409, "DAY_FULL"), refused.body
    assert refused.details == [{"date": "2027-01-04", "existing": 100, "adding": 1, "limit": 100}]
    assert slots_on(service, doctor_id, MONDAY) == 100  # nothing made

    assert create_slot(doctor_id, "2027-01-05T09:00:00+00:00").status == 201  # the next date is another date
    assert create_slot(f"{doctor_id}-b", "2027-01-04T17:00:00+00:00").status == 201  # another doctor's date
    assert create_slot(doctor_id, "2027-01-04T08:00:00+00:00").code == "SLOT_EXISTS"  # not a new slot: no DAY_FULL
    assert sessions(doctor_id, start="08:00", end="16:20", slotMinutes=5).body["created"] == []  # a repeat: 201


def test_a_session_that_would_put_a_date_over_100_makes_nothing_on_any_date(service: Allocator, doctor_id: str) -> None:
    assert len(sessions(doctor_id, start="08:00", end="15:30", slotMinutes=5).body["created"]) == 90  # the 4th
    evenings: dict[str, Any] = {
        "from": "2027-01-03",
        "to": "2027-01-05",
        "start": "16:00",
        "end": "17:00",
        "slotMinutes": 5,
    }

    refused = sessions(doctor_id, **evenings)  # 12 a day: the 3rd and the 5th would have room, the 4th 102
    assert (refused.status, refused.code) == (409, "DAY_FULL"), refused.body
    assert refused.details == [{"date": "2027-01-04", "existing": 90, "adding": 12, "limit": 100}]
    assert refused.body["error"]["message"] == (
        "at most 100 slots a doctor on one date: 2027-01-04 has 90 and would get 12 more"
    )
    assert service.store.collection.count_documents({"doctorId": doctor_id}) == 90

    ten_more = sessions(doctor_id, **evenings | {"end": "16:50"})
    assert (ten_more.status, len(ten_more.body["created"])) == (201, 3 * 10)  # the 4th: exactly 100
    assert [slots_on(service, doctor_id, MONDAY + timedelta(days=d)) for d in (-1, 0, 1)] == [10, 100, 10]


@pytest.fixture
def counted(
    monkeypatch: pytest.MonkeyPatch, handler_runtime: None, redis_url: str, mongo_uri: str, bus: RecordingPublisher
) -> tuple[Allocator, MongoCommandCounter, CountingRedis]:
    """The handlers' runtime with clients that count every command and `bus` as the event bus, on the fixed clock.

    With the template's metrics namespace: a leave's 100 lock waits fill Powertools' metric set, which it
    then writes out in the middle of the request (as in AWS), and that needs the namespace."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OPD")
    mongo_counter = MongoCommandCounter()
    counting_redis = CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    counting_redis.trail = Trail()
    client = store.connect(mongo_uri, event_listeners=[mongo_counter])
    monkeypatch.setattr(runtime, "mongo_client", cache(lambda: client))
    monkeypatch.setattr(runtime, "redis_client", cache(lambda: counting_redis))
    monkeypatch.setattr(runtime, "event_publisher", cache(lambda: bus))
    runtime.reset()
    service = runtime.allocator()
    runtime.patient_store()  # warm, as the allocator: its indexes are made at its first use
    monkeypatch.setattr(service, "clock", lambda: NOW)
    return service, mongo_counter, counting_redis


def test_a_crowded_days_leave_finishes_in_one_request(
    counted: tuple[Allocator, MongoCommandCounter, CountingRedis], doctor_id: str, bus: RecordingPublisher
) -> None:
    """The red team's day: the most a date may hold, 100 slots, each with 15 places taken and a full waitlist.

    One request closes it all. What keeps it inside the function's timeout is counted, not timed: the day
    is read once, each slot costs its lock, its one conditional write and its release (no read of its
    own), and the events of all 100 are published together with one script for their relay markers. The
    answer's patient names are one more read, for all 2,500 cancelled bookings at once."""
    service, mongo_counter, counting_redis = counted
    service.store.insert_all(crowded_day(doctor_id, MONDAY, NOW, service.settings.waitlist_limit))
    mongo_counter.commands.clear()
    counting_redis.commands.clear()

    answer = leave(doctor_id, "2027-01-04", reason="called away")
    assert answer.status == 200, answer.body
    assert (answer.body["slots"], len(answer.body["cancelled"])) == (100, 100 * 25)
    assert {(b["status"], b["cancelReason"]) for b in answer.body["cancelled"]} == {("CANCELLED", "DOCTOR_UNAVAILABLE")}
    assert dict(mongo_counter.commands) == {"mongo find": 2, "mongo update": 100}
    assert counting_redis.trail is not None
    assert sorted(set(counting_redis.trail)) == ["redis eval (lock)", "redis eval (marker)", "redis eval (release)"]
    assert [counting_redis.trail.count(f"redis eval ({s})") for s in ("lock", "release", "marker")] == [100, 100, 1]
    day = service.doctor_slots(doctor_id, MONDAY)
    assert all(s.closed for s in day) and {b.status for s in day for b in s.bookings} == {Status.CANCELLED}
    ids = [entry.event_id for entry in bus.entries]
    assert len(ids) == len(set(ids)) == 100 * 26  # each slot's SlotClosed and 25 BookingCancelled, once each
    assert bus.types.count("SlotClosed") == 100
    assert service.lock.published_marks([s.slot_id for s in day]) == {
        s.slot_id: Relayed(through=s.version) for s in day
    }

    body = {"slotId": day[-1].slot_id, "patientId": "p-late", "source": "EMERGENCY"}
    assert call("create_booking", event("create_booking", body=body, role="reception")).code == "SLOT_CLOSED"
    mongo_counter.commands.clear()
    counting_redis.commands.clear()
    assert leave(doctor_id, "2027-01-04").body == {"slots": 100, "cancelled": []}
    assert (dict(mongo_counter.commands), dict(counting_redis.commands)) == ({"mongo find": 1}, {})


# -- leave -------------------------------------------------------------------------------------------------


def every_state(service: Allocator, doctor_id: str, day: date) -> tuple[Slot, Slot, dict[str, str]]:
    """Two slots of `day` with a booking in each state (name -> booking id)."""
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    full = service.create_slot(doctor_id, at, at + timedelta(minutes=30), Capacity(3, 0, 0))
    other = service.create_slot(doctor_id, at + timedelta(minutes=30), at + timedelta(hours=1))
    ids: dict[str, str] = {}
    for name in ("called", "checked_in", "booked"):
        ids[name] = service.book(full.slot_id, f"p-{name}", Source.WALKIN).booking_id
    ids["waitlisted"] = service.book(full.slot_id, "p-waitlisted", Source.ONLINE, waitlist=True).booking_id
    for name in ("completed", "cancelled", "no_show", "booked_too"):
        ids[name] = service.book(other.slot_id, f"p-{name}", Source.PAID).booking_id
    service.check_in(ids["called"])
    service.call_next(full.slot_id, by="desk-1")
    service.check_in(ids["checked_in"])
    service.check_in(ids["completed"])
    service.call_next(other.slot_id, by="desk-1")
    service.complete(ids["completed"])
    service.cancel(ids["cancelled"])
    service.mark_no_show(ids["no_show"])
    return full, other, ids


def status_of(service: Allocator, booking_id: str) -> Status:
    return service.get_booking(booking_id).status


def test_leave_closes_the_day_cancels_the_waiting_patients_and_leaves_the_rest(
    service: Allocator, doctor_id: str
) -> None:
    full, other, ids = every_state(service, doctor_id, MONDAY)
    assert status_of(service, ids["waitlisted"]) is Status.WAITLISTED
    next_day = service.create_slot(doctor_id, datetime(2027, 1, 5, 9, tzinfo=UTC), datetime(2027, 1, 5, 10, tzinfo=UTC))
    tomorrows = service.book(next_day.slot_id, "p-tomorrow", Source.ONLINE)

    answer = leave(doctor_id, "2027-01-04", reason="conference")
    assert answer.status == 200, answer.body
    assert set(answer.body) == {"slots", "cancelled"} and answer.body["slots"] == 2
    cancelled = {b["bookingId"]: b for b in answer.body["cancelled"]}
    expected = {ids[name] for name in ("checked_in", "booked", "waitlisted", "booked_too")}
    assert set(cancelled) == expected
    for booking in cancelled.values():
        assert (booking["status"], booking["cancelReason"]) == ("CANCELLED", "DOCTOR_UNAVAILABLE")
        assert booking["history"][-1]["by"] == ADMIN
        assert (booking["position"], booking["estimatedCallAt"], booking["waitlistPosition"]) == (None, None, None)

    kept = {"called": Status.CALLED, "completed": Status.COMPLETED, "cancelled": Status.CANCELLED}
    for name, status in (kept | {"no_show": Status.NO_SHOW}).items():
        assert status_of(service, ids[name]) is status, name
    assert service.get_booking(ids["cancelled"]).cancel_reason is not None  # the patient's own reason kept
    assert all(service.get_slot(s.slot_id).closed for s in (full, other))
    assert service.get_slot(next_day.slot_id).closed is False
    assert status_of(service, tomorrows.booking_id) is Status.BOOKED

    # Closed in every answer that shows a slot, and closed to new bookings.
    assert [(s["slotId"], s["closed"]) for s in day_slots(doctor_id, "2027-01-04")] == [
        (full.slot_id, True),
        (other.slot_id, True),
    ]
    assert [s["booked"] for s in day_slots(doctor_id, "2027-01-04")] == [1, 1]  # the called one; the completed one
    got = call("get_slot", event("get_slot", path={"slotId": other.slot_id}))
    assert (got.body["closed"], got.body["waitlisted"]) == (True, 0)
    board = call("get_board", event("get_board", path={"doctorId": doctor_id}, query={"date": "2027-01-04"}))
    assert [(s["closed"], s["calling"], s["waiting"]) for s in board.body["slots"]] == [(True, 1, 0), (True, None, 0)]
    body = {"slotId": other.slot_id, "patientId": "p-late", "source": "EMERGENCY"}
    refused = call("create_booking", event("create_booking", body=body, role="reception"))
    assert (refused.status, refused.code) == (409, "SLOT_CLOSED")
    assert len(service.get_slot(other.slot_id).bookings) == 4


def test_a_repeat_of_leave_changes_nothing_more(service: Allocator, doctor_id: str) -> None:
    full, other, _ = every_state(service, doctor_id, MONDAY)
    assert len(leave(doctor_id, "2027-01-04").body["cancelled"]) == 4
    before = [service.get_slot(s.slot_id) for s in (full, other)]

    again = leave(doctor_id, "2027-01-04")
    assert (again.status, again.body) == (200, {"slots": 2, "cancelled": []})
    assert [service.get_slot(s.slot_id) for s in (full, other)] == before  # not even written: the same versions


def test_leave_cut_off_by_a_busy_slot_is_429_and_a_repeat_finishes_it(
    service: Allocator, doctor_id: str, redis_client: redis.Redis, log_lines: io.StringIO
) -> None:
    starts_at = [datetime(2027, 1, 4, hour, tzinfo=UTC) for hour in (9, 10, 11)]
    slots = [service.create_slot(doctor_id, at, at + timedelta(hours=1)) for at in starts_at]
    bookings = [service.book(slot.slot_id, f"p-{i}", Source.ONLINE).booking_id for i, slot in enumerate(slots)]
    held = f"lock:slot:{slots[1].slot_id}"
    redis_client.set(held, "another-request", px=30_000)  # a writer of the middle slot, mid-change
    try:
        cut_off = leave(doctor_id, "2027-01-04", reason="sick")
        assert (cut_off.status, cut_off.code) == (429, "SLOT_BUSY")
        assert cut_off.headers["Retry-After"] == "1"
        refused = [json.loads(line) for line in log_lines.getvalue().splitlines() if "SLOT_BUSY" in line]
        assert [(line["message"], line["leave_reason"]) for line in refused] == [("request refused", "sick")]
        # The first slot is done; the busy one and those after it are untouched.
        assert [service.get_slot(s.slot_id).closed for s in slots] == [True, False, False]
        assert [status_of(service, b) for b in bookings] == [Status.CANCELLED, Status.BOOKED, Status.BOOKED]
    finally:
        redis_client.delete(held)

    finished = leave(doctor_id, "2027-01-04")
    assert (finished.status, finished.body["slots"]) == (200, 3)
    assert [b["bookingId"] for b in finished.body["cancelled"]] == bookings[1:]  # the rest, and only the rest
    assert all(service.get_slot(s.slot_id).closed for s in slots)
    assert leave(doctor_id, "2027-01-04").body == {"slots": 3, "cancelled": []}


def test_leave_on_a_day_without_slots_closes_nothing(service: Allocator, doctor_id: str) -> None:
    answer = leave(doctor_id, "2027-01-04")
    assert (answer.status, answer.body) == (200, {"slots": 0, "cancelled": []})


def test_leave_is_read_in_the_clinics_zone(clinic: Callable[[str], Allocator], doctor_id: str) -> None:
    service = clinic("Asia/Kolkata")
    late = service.create_slot(  # 00:30 on the 5th in Kolkata: not the 4th's
        doctor_id, datetime(2027, 1, 4, 19, tzinfo=UTC), datetime(2027, 1, 4, 19, 30, tzinfo=UTC)
    )
    early = service.create_slot(  # 05:30 on the 4th in Kolkata
        doctor_id, datetime(2027, 1, 4, 0, tzinfo=UTC), datetime(2027, 1, 4, 0, 30, tzinfo=UTC)
    )
    assert leave(doctor_id, "2027-01-04").body["slots"] == 1
    assert (service.get_slot(early.slot_id).closed, service.get_slot(late.slot_id).closed) == (True, False)


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the handlers log (Powertools' JSON lines), kept here instead of stdout."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    yield stream


def test_the_reason_is_logged_with_the_leave_and_not_answered(
    service: Allocator, doctor_id: str, log_lines: io.StringIO
) -> None:
    every_state(service, doctor_id, MONDAY)
    answer = leave(doctor_id, "2027-01-04", reason="conference in Pune")
    assert answer.status == 200
    assert "conference" not in json.dumps(answer.body)
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    [recorded] = [line for line in lines if line.get("message") == "leave recorded"]
    assert {key: recorded[key] for key in ("doctor_id", "leave_date", "leave_reason", "by", "slots", "cancelled")} == {
        "doctor_id": doctor_id,
        "leave_date": "2027-01-04",
        "leave_reason": "conference in Pune",
        "by": ADMIN,
        "slots": 2,
        "cancelled": 4,
    }


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"date": "2026-11-19"}, ["date"]),
        ({"date": "2031-11-22"}, ["date"]),
        ({"date": "2027-1-4"}, ["date"]),
        ({"date": "2027-01-04T09:00:00Z"}, ["date"]),
        ({"date": 20270104}, ["date"]),
        ({}, ["date"]),
        ({"date": "2027-01-04", "reason": ""}, ["reason"]),
        ({"date": "2027-01-04", "reason": "x" * 201}, ["reason"]),
        ({"date": "2027-01-04", "reason": 12}, ["reason"]),
        ({"date": "2027-01-04", "day": "2027-01-04"}, ["day"]),
    ],
)
def test_leave_bounds_name_the_field(
    service: Allocator, doctor_id: str, body: dict[str, Any], refused: list[str]
) -> None:
    slot = service.create_slot(doctor_id, datetime(2027, 1, 4, 9, tzinfo=UTC), datetime(2027, 1, 4, 10, tzinfo=UTC))
    answer = call("take_leave", event("take_leave", path={"doctorId": doctor_id}, body=body))
    assert fields(answer) == refused
    assert service.get_slot(slot.slot_id) == slot


def test_a_reason_of_200_characters_is_taken(service: Allocator, doctor_id: str) -> None:
    assert leave(doctor_id, "2027-01-04", reason="é" * 200).status == 200
