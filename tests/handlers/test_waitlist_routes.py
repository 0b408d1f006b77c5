"""The waitlist and a patient's bookings through their handlers (contract v2, "Waitlist"; issue 11).

POST /bookings with `"waitlist": true`, WAITLIST_FULL, promotion when a place is given back (seen through
GET /bookings/{id}), why a booking was cancelled, GET /slots/{id}/waitlist in join order, and
GET /patients/{id}/bookings: every state by slot start, its days and their bounds, one indexed query.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devserver import openapi
from opd import runtime
from opd.api import idempotency
from opd.domain import BookingOptions, CancelReason, Capacity, Slot, Source
from opd.service import Allocator, reads
from tests.handlers.support import PATIENT, Answer, call, close_runtime, event, handler_module
from tests.handlers.test_room_routes import counted_runtime  # noqa: F401 (a fixture)
from tests.support.roundtrips import CountingRedis, MongoCommandCounter

DESK = "desk-wanda"


def post_booking(
    slot_id: str,
    patient_id: str,
    source: str = "WALKIN",
    waitlist: bool | None = True,
    role: str = "reception",
    user: str = DESK,
    key: str | None = None,
) -> Answer:
    body: dict[str, Any] = {"slotId": slot_id, "patientId": patient_id, "source": source}
    if waitlist is not None:
        body["waitlist"] = waitlist
    ev = event("create_booking", body=body, role=role, user=user, headers={"Idempotency-Key": key})
    return call("create_booking", ev)


def booked(slot_id: str, patient_id: str, source: str = "WALKIN", **kwargs: Any) -> dict[str, Any]:
    answer = post_booking(slot_id, patient_id, source, **kwargs)
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


def act(name: str, booking_id: str, role: str = "reception", user: str = DESK) -> Answer:
    return call(name, event(name, path={"bookingId": booking_id}, role=role, user=user))


def read(booking_id: str) -> dict[str, Any]:
    answer = act("get_booking", booking_id)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def waitlist_of(slot_id: str, role: str = "reception") -> Answer:
    return call("get_waitlist", event("get_waitlist", path={"slotId": slot_id}, role=role))


@pytest.fixture
def one_place(allocator: Allocator, doctor_id: str, soon: datetime) -> Slot:
    """A slot of one STANDARD place and nothing more."""
    return allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 0, 0))


# -- joining the waitlist ---------------------------------------------------------------------------------------


def test_a_full_tier_with_waitlist_makes_a_waitlisted_booking_without_a_token(
    one_place: Slot, capsys: pytest.CaptureFixture[str]
) -> None:
    booked(one_place.slot_id, "p-first", waitlist=None)
    capsys.readouterr()
    first = booked(one_place.slot_id, "p-waits-1")
    second = booked(one_place.slot_id, "p-waits-2", "ONLINE")
    assert [(b["status"], b["token"], b["waitlistPosition"]) for b in (first, second)] == [
        ("WAITLISTED", None, 1),
        ("WAITLISTED", None, 2),
    ]
    assert (first["position"], first["estimatedCallAt"], first["tier"]) == (None, None, "STANDARD")
    assert first["history"] == [{"status": "WAITLISTED", "at": first["createdAt"], "by": DESK}]
    slot = call("get_slot", event("get_slot", path={"slotId": one_place.slot_id})).body
    assert (slot["booked"], slot["waitlisted"], slot["available"]["STANDARD"]) == (1, 2, 0)
    # Counted as what they are: no place was booked.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(m.get("Waitlisted"), m.get("Bookings")) for m in emf if "Waitlisted" in m or "Bookings" in m] == [
        ([1.0], None),
        ([1.0], None),
    ]


def test_without_waitlist_a_full_tier_is_still_slot_full_and_with_room_it_books(one_place: Slot) -> None:
    first = booked(one_place.slot_id, "p-first")  # asked for the waitlist, but there was room
    assert (first["status"], first["token"], first["waitlistPosition"]) == ("BOOKED", 1, None)
    for waitlist in (None, False):
        refused = post_booking(one_place.slot_id, "p-second", waitlist=waitlist)
        assert (refused.status, refused.code) == (409, "SLOT_FULL")
    assert waitlist_of(one_place.slot_id).body["waitlist"] == []


def test_a_full_waitlist_is_waitlist_full_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    monkeypatch.setenv("WAITLIST_LIMIT", "2")
    close_runtime()  # a new execution environment reads the setting
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 1, 0))
    booked(slot.slot_id, "p-first", waitlist=None)
    booked(slot.slot_id, "p-waits-1")
    booked(slot.slot_id, "p-waits-2")
    before = allocator.get_slot(slot.slot_id)

    refused = post_booking(slot.slot_id, "p-waits-3")
    assert (refused.status, refused.code) == (409, "WAITLIST_FULL")
    assert refused.details == [{"tier": "STANDARD", "limit": 1, "booked": 1, "waitlisted": 2}]
    assert allocator.get_slot(slot.slot_id) == before
    # A tier with room still books: the waitlist is only for those who would otherwise be refused.
    assert booked(slot.slot_id, "p-paid", "PAID")["token"] == 2


def test_a_waitlisted_patient_holds_a_booking_in_the_slot(one_place: Slot) -> None:
    booked(one_place.slot_id, "p-first")
    booked(one_place.slot_id, "p-waits")
    for waitlist in (True, None):
        again = post_booking(one_place.slot_id, "p-waits", waitlist=waitlist)
        assert (again.status, again.code) == (409, "DUPLICATE_BOOKING")


def test_a_patient_joins_a_waitlist_for_themselves_online_only(one_place: Slot) -> None:
    booked(one_place.slot_id, "p-first")
    walk_in = post_booking(one_place.slot_id, PATIENT, "WALKIN", role="patient", user=PATIENT)
    for_another = post_booking(one_place.slot_id, "p-other", "ONLINE", role="patient", user=PATIENT)
    assert [(a.status, a.code) for a in (walk_in, for_another)] == [(403, "FORBIDDEN")] * 2
    mine = post_booking(one_place.slot_id, PATIENT, "ONLINE", role="patient", user=PATIENT)
    assert (mine.status, mine.body["status"], mine.body["waitlistPosition"]) == (201, "WAITLISTED", 1)
    assert act("get_booking", mine.body["bookingId"], role="patient", user=PATIENT).body["status"] == "WAITLISTED"


@pytest.mark.parametrize("value", ["true", 1, None, "yes"])
def test_waitlist_is_a_json_boolean(one_place: Slot, value: object) -> None:
    body = {"slotId": one_place.slot_id, "patientId": "p-1", "source": "ONLINE", "waitlist": value}
    answer = call("create_booking", event("create_booking", body=body, role="reception"))
    assert (answer.status, answer.code, [d["field"] for d in answer.details]) == (400, "VALIDATION_ERROR", ["waitlist"])


# -- a place given back ---------------------------------------------------------------------------------------


def test_a_cancel_promotes_the_first_waitlisted_seen_through_get_booking(one_place: Slot) -> None:
    holder = booked(one_place.slot_id, PATIENT, "ONLINE", role="patient", user=PATIENT)
    first, second = booked(one_place.slot_id, "p-waits-1"), booked(one_place.slot_id, "p-waits-2")

    cancelled = act("cancel_booking", holder["bookingId"], role="patient", user=PATIENT)
    assert cancelled.status == 200, cancelled.body
    assert (cancelled.body["status"], cancelled.body["cancelReason"]) == ("CANCELLED", "PATIENT")

    promoted = read(first["bookingId"])
    assert (promoted["status"], promoted["token"], promoted["waitlistPosition"], promoted["position"]) == (
        "BOOKED",
        2,
        None,
        0,
    )
    assert [(c["status"], c["by"]) for c in promoted["history"]] == [("WAITLISTED", DESK), ("BOOKED", "system")]
    still = read(second["bookingId"])
    assert (still["status"], still["token"], still["waitlistPosition"]) == ("WAITLISTED", None, 1)
    queue = call("get_queue", event("get_queue", path={"slotId": one_place.slot_id})).body["queue"]
    assert [(b["bookingId"], b["token"]) for b in queue] == [(first["bookingId"], 2)]


@pytest.mark.parametrize(("role", "user", "reason"), [("reception", DESK, "STAFF"), ("admin", "admin-1", "STAFF")])
def test_staff_cancelling_records_staff(one_place: Slot, role: str, user: str, reason: str) -> None:
    holder = booked(one_place.slot_id, PATIENT, "ONLINE")
    answer = act("cancel_booking", holder["bookingId"], role=role, user=user)
    assert (answer.status, answer.body["cancelReason"], answer.body["history"][-1]["by"]) == (200, reason, user)
    assert read(holder["bookingId"])["cancelReason"] == reason  # as stored


def test_cancelling_a_waitlisted_booking_gives_nothing_back(one_place: Slot) -> None:
    booked(one_place.slot_id, "p-first")
    mine = booked(one_place.slot_id, PATIENT, "ONLINE", role="patient", user=PATIENT)
    behind = booked(one_place.slot_id, "p-waits")
    answer = act("cancel_booking", mine["bookingId"], role="patient", user=PATIENT)
    assert (answer.body["status"], answer.body["token"], answer.body["cancelReason"]) == ("CANCELLED", None, "PATIENT")
    assert answer.body["waitlistPosition"] is None
    assert [b["bookingId"] for b in waitlist_of(one_place.slot_id).body["waitlist"]] == [behind["bookingId"]]
    assert read(behind["bookingId"])["waitlistPosition"] == 1


# -- the waitlist route -----------------------------------------------------------------------------------------


def test_the_waitlist_is_in_join_order_and_a_freed_place_goes_to_the_first_whose_tier_has_room(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(1, 1, 0))  # STANDARD 1, PREMIUM 2
    first = booked(slot.slot_id, "p-0", waitlist=None)
    standing = booked(slot.slot_id, "s-1")
    assert booked(slot.slot_id, "p-1", "PAID")["status"] == "BOOKED"  # the premium buffer's place
    paid = booked(slot.slot_id, "p-2", "FOLLOWUP")
    walk_in = booked(slot.slot_id, "s-2")

    answer = waitlist_of(slot.slot_id)
    assert answer.status == 200, answer.body
    assert set(answer.body) == {"slotId", "waitlist"} and answer.body["slotId"] == slot.slot_id
    assert [(b["bookingId"], b["waitlistPosition"], b["status"], b["token"]) for b in answer.body["waitlist"]] == [
        (standing["bookingId"], 1, "WAITLISTED", None),
        (paid["bookingId"], 2, "WAITLISTED", None),
        (walk_in["bookingId"], 3, "WAITLISTED", None),
    ]

    # The freed place is PREMIUM's only (the PAID booking still holds one of 2): the STANDARD ones wait on.
    act("cancel_booking", first["bookingId"])
    after = waitlist_of(slot.slot_id, role="admin").body["waitlist"]
    assert [(b["bookingId"], b["waitlistPosition"]) for b in after] == [
        (standing["bookingId"], 1),
        (walk_in["bookingId"], 2),
    ]
    assert (read(paid["bookingId"])["status"], read(paid["bookingId"])["token"]) == ("BOOKED", 3)


def test_the_waitlist_of_an_unknown_or_badly_named_slot() -> None:
    assert (waitlist_of("slot-nobody").status, waitlist_of("slot-nobody").code) == (404, "NOT_FOUND")
    bad = waitlist_of("a b")
    assert (bad.status, [d["field"] for d in bad.details]) == (400, ["slotId"])


# -- the Idempotency-Key covers the flag --------------------------------------------------------------------------


def test_a_keyed_waitlisting_is_replayed_as_waitlisted_even_once_promoted(
    allocator: Allocator, one_place: Slot
) -> None:
    holder = booked(one_place.slot_id, "p-first")
    first = post_booking(one_place.slot_id, "p-waits", key="wait-key-1")
    assert (first.status, first.body["status"]) == (201, "WAITLISTED")
    assert post_booking(one_place.slot_id, "p-waits", key="wait-key-1").body == first.body

    act("cancel_booking", holder["bookingId"])  # p-waits is promoted
    assert read(first.body["bookingId"])["status"] == "BOOKED"
    again = post_booking(one_place.slot_id, "p-waits", key="wait-key-1")
    assert again.status == 201
    assert {k: again.body[k] for k in ("bookingId", "status", "token", "position", "waitlistPosition")} == {
        "bookingId": first.body["bookingId"],
        "status": "WAITLISTED",  # the first answer, which said nothing of a place
        "token": None,
        "position": None,
        "waitlistPosition": None,  # no longer waiting
    }
    assert allocator.get_slot(one_place.slot_id).booked == 1


def test_the_same_key_without_the_waitlist_flag_is_another_body(one_place: Slot) -> None:
    booked(one_place.slot_id, "p-first")
    assert post_booking(one_place.slot_id, "p-waits", key="wait-key-2").status == 201
    for waitlist in (None, False):
        answer = post_booking(one_place.slot_id, "p-waits", waitlist=waitlist, key="wait-key-2")
        assert (answer.status, answer.code) == (409, "IDEMPOTENCY_CONFLICT")


def test_a_key_kept_before_the_flag_existed_still_replays(allocator: Allocator, slot: Slot) -> None:
    """A booking stored with the hash of a body of three fields, as every booking before the waitlist was."""
    body = {"slotId": slot.slot_id, "patientId": "p-earlier", "source": "WALKIN"}
    key = idempotency.request_key(caller=DESK, key="key-from-before", body=body)
    earlier = allocator.book_once(slot.slot_id, "p-earlier", Source.WALKIN, key, BookingOptions(by=DESK)).booking
    for waitlist in (None, False):  # the body as sent then, and the same written out
        again = post_booking(slot.slot_id, "p-earlier", waitlist=waitlist, key="key-from-before")
        assert (again.status, again.body["bookingId"]) == (201, earlier.booking_id), again.body
    assert allocator.get_slot(slot.slot_id).booked == 1


# -- a patient's bookings -------------------------------------------------------------------------------------------

TODAY = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # the handlers' "now" here; the clinic's zone is UTC
WINDOW = "must be from 2030-01-06 to 2035-01-07, clinic time (UTC): at most 1 day back and 5 years ahead"


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The handlers' clock at TODAY (slots are made and booked on the real clock, for which 2030 is ahead)."""
    monkeypatch.setattr(runtime.allocator(), "clock", lambda: TODAY)
    return TODAY


def listing(
    patient_id: str, query: dict[str, str] | None = None, role: str = "patient", user: str | None = None
) -> Answer:
    ev = event("list_patient_bookings", path={"patientId": patient_id}, query=query, role=role, user=user or patient_id)
    return call("list_patient_bookings", ev)


def listed(patient_id: str, query: dict[str, str] | None = None, **kwargs: Any) -> list[str]:
    answer = listing(patient_id, query, **kwargs)
    assert answer.status == 200, answer.body
    return [b["bookingId"] for b in answer.body["bookings"]]


def slot_at(allocator: Allocator, doctor_id: str, start: datetime, places: int = 10) -> Slot:
    return allocator.create_slot(doctor_id, start, start + timedelta(minutes=30), Capacity(places, 0, 0))


def test_a_patient_lists_their_bookings_in_every_state_by_slot_start(
    allocator: Allocator, doctor_id: str, fixed_now: datetime
) -> None:
    me = "pat-listing"
    later = slot_at(allocator, doctor_id, fixed_now + timedelta(days=2))  # made first, listed last
    full = slot_at(allocator, "dr-other", fixed_now + timedelta(days=1), places=1)
    sooner = slot_at(allocator, doctor_id, fixed_now + timedelta(hours=1))
    ahead = allocator.book(sooner.slot_id, "p-ahead", Source.WALKIN)
    first_try = allocator.book(sooner.slot_id, me, Source.ONLINE)
    allocator.cancel(first_try.booking_id, by=me, reason=CancelReason.PATIENT)
    again = allocator.book(sooner.slot_id, me, Source.ONLINE)  # rebooked: two of theirs in one slot
    allocator.book(full.slot_id, "p-holder", Source.WALKIN)
    waiting = allocator.book(full.slot_id, me, Source.ONLINE, waitlist=True)
    done = allocator.book(later.slot_id, me, Source.ONLINE)
    allocator.check_in(done.booking_id)
    allocator.complete(done.booking_id)

    answer = listing(me)
    assert answer.status == 200, answer.body
    assert set(answer.body) == {"bookings", "next"} and answer.body["next"] is None
    rows = [(b["bookingId"], b["status"], b["position"], b["waitlistPosition"]) for b in answer.body["bookings"]]
    assert rows == [
        (first_try.booking_id, "CANCELLED", None, None),
        (again.booking_id, "BOOKED", 1, None),  # behind p-ahead
        (waiting.booking_id, "WAITLISTED", None, 1),
        (done.booking_id, "COMPLETED", None, None),
    ]
    assert answer.body["bookings"][0]["cancelReason"] == "PATIENT"
    assert answer.body["bookings"][1]["estimatedCallAt"] is not None
    assert ahead.booking_id not in json.dumps(answer.body)  # nobody else's booking, though it shares the slot
    assert {b["patientId"] for b in answer.body["bookings"]} == {me}


def test_staff_list_any_patients_bookings_and_an_unknown_patient_has_none(
    allocator: Allocator, doctor_id: str, fixed_now: datetime
) -> None:
    slot = slot_at(allocator, doctor_id, fixed_now + timedelta(hours=2))
    mine = allocator.book(slot.slot_id, "pat-staffed", Source.ONLINE)
    for role in ("reception", "admin"):
        assert listed("pat-staffed", role=role, user=f"{role}-1") == [mine.booking_id], role
    assert listed("pat-nobody", role="reception", user="desk-1") == []


def test_the_days_are_today_to_30_days_on_by_default_both_included(
    allocator: Allocator, doctor_id: str, fixed_now: datetime
) -> None:
    me = "pat-days"
    midnight = fixed_now.replace(hour=0)
    starts = {
        "the day before": midnight - timedelta(minutes=30),
        "today": midnight,
        "day 30": midnight + timedelta(days=30, hours=23, minutes=30),
        "day 31": midnight + timedelta(days=31),
    }
    ids = {
        name: allocator.book(slot_at(allocator, doctor_id, start).slot_id, me, Source.ONLINE).booking_id
        for name, start in starts.items()
    }

    assert listed(me) == [ids["today"], ids["day 30"]]
    # `to` left out is 30 days after `from`: from the day before, day 30 is one day too far.
    assert listed(me, {"from": "2030-01-06"}) == [ids["the day before"], ids["today"]]
    assert listed(me, {"to": "2030-02-07"}) == [ids["today"], ids["day 30"], ids["day 31"]]
    assert listed(me, {"from": "2030-01-07", "to": "2030-01-07"}) == [ids["today"]]
    assert listed(me, {"from": "2030-02-06", "to": "2030-02-07"}) == [ids["day 30"], ids["day 31"]]


@pytest.mark.parametrize(
    ("query", "fields", "message"),
    [
        ({"from": "2030-01-07", "to": "2030-04-09"}, None, None),  # 92 days apart
        ({"from": "2030-01-07", "to": "2030-04-10"}, ["to"], "must be at most 92 days after from (2030-01-07)"),
        ({"from": "2030-01-10", "to": "2030-01-09"}, ["to"], "must not be before from (2030-01-10)"),
        ({"to": "2030-01-06"}, ["to"], "must not be before from (2030-01-07)"),  # `from` left out: today
        ({"from": "2030-01-05"}, ["from"], WINDOW),
        ({"from": "2035-01-07", "to": "2035-01-08"}, ["to"], WINDOW),
        ({"from": "9999-12-31", "to": "0001-01-01"}, ["from", "to"], WINDOW),
        ({"from": "2030-1-7"}, ["from"], "must be a date written YYYY-MM-DD, e.g. 2026-11-21"),
        ({"to": "2030-01-07T00:00"}, ["to"], "must be a date written YYYY-MM-DD, e.g. 2026-11-21"),
        ({"from": "2030-02-30"}, ["from"], "Input should be a valid date"),
    ],
)
def test_from_and_to_are_days_in_the_window_at_most_92_apart(
    fixed_now: datetime, query: dict[str, str], fields: list[str] | None, message: str | None
) -> None:
    answer = listing("pat-bounds", query)
    if fields is None:
        assert (answer.status, answer.body) == (200, {"bookings": [], "next": None})
        return
    assert (answer.status, answer.code) == (400, "VALIDATION_ERROR"), answer.body
    assert [d["field"] for d in answer.details] == fields
    assert all(d["message"].startswith(message or "") for d in answer.details), answer.details


def pages_of(patient_id: str, query: dict[str, str] | None = None, role: str = "reception") -> list[dict[str, Any]]:
    """Every page of the listing, following `next` (at most 10 pages)."""
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while len(pages) < 10 and (not pages or after is not None):
        answer = listing(patient_id, (query or {}) | ({"after": after} if after else {}), role=role, user=f"{role}-1")
        assert answer.status == 200, answer.body
        pages.append(answer.body)
        after = answer.body["next"]
    return pages


def test_505_bookings_come_in_pages_of_at_most_100_each_once_in_order(
    allocator: Allocator, doctor_id: str, fixed_now: datetime
) -> None:
    """169 slots of two doctors, each pair starting together, with 3 of the patient's bookings each (two of them
    cancelled) but the last with 1, made latest first: the first page ends inside a slot."""
    me, made = "pat-paged", {}
    for n in reversed(range(169)):
        doctor, start = f"{doctor_id}-{'ba'[n % 2]}", fixed_now + timedelta(hours=1 + n // 2)
        opened = slot_at(allocator, doctor, start)
        theirs = [allocator.book(opened.slot_id, me, Source.ONLINE)]
        for _ in range(2 if n < 168 else 0):
            allocator.cancel(theirs[-1].booking_id, by=me, reason=CancelReason.PATIENT)
            theirs.append(allocator.book(opened.slot_id, me, Source.ONLINE))
        if n % 10 == 0:
            allocator.book(opened.slot_id, "p-someone-else", Source.WALKIN)
        made[(start, doctor)] = [b.booking_id for b in theirs]
    expected = [booking_id for key in sorted(made) for booking_id in made[key]]
    assert len(expected) == len(set(expected)) == 505

    pages = pages_of(me, {"to": "2030-01-14"})
    assert [(len(p["bookings"]), p["next"] is None) for p in pages] == [(100, False)] * 5 + [(5, True)]
    assert [b["bookingId"] for p in pages for b in p["bookings"]] == expected  # each once, none skipped
    assert {b["patientId"] for p in pages for b in p["bookings"]} == {me}
    assert pages[0]["bookings"][99]["slotId"] == pages[1]["bookings"][0]["slotId"]  # a slot across two pages


@pytest.mark.parametrize(
    "after",
    [
        "",  # no cursor at all: the value's pattern
        "not base64!",
        "A" * 257,  # longer than any cursor
        "bm90IGEgY3Vyc29y",  # "not a cursor", in base64
        base64.urlsafe_b64encode(b"2030-01-07T10:00:00.000000+00:00 dr-x s-1.0123")
        .decode()
        .rstrip("="),  # none of theirs
    ],
)
def test_a_bad_cursor_is_400_naming_after(
    allocator: Allocator, doctor_id: str, fixed_now: datetime, after: str
) -> None:
    opened = slot_at(allocator, "dr-x", fixed_now + timedelta(hours=1))
    allocator.book(opened.slot_id, "pat-cursor", Source.ONLINE)
    answer = listing("pat-cursor", {"after": after})
    assert (answer.status, answer.code, [d["field"] for d in answer.details]) == (400, "VALIDATION_ERROR", ["after"])


def test_a_tampered_cursor_is_400_naming_after(allocator: Allocator, fixed_now: datetime) -> None:
    for hour in range(1, 103):
        opened = slot_at(allocator, "dr-tampered", fixed_now + timedelta(hours=hour))
        allocator.book(opened.slot_id, "pat-tampered", Source.ONLINE)
    cursor = listing("pat-tampered").body["next"]
    assert listing("pat-tampered", {"after": cursor}).status == 200
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    for changed in (text.replace(".000000+00:00", ".000001+00:00"), text[:-1] + ("0" if text[-1] != "0" else "1")):
        tampered = base64.urlsafe_b64encode(changed.encode()).decode().rstrip("=")
        answer = listing("pat-tampered", {"after": tampered})
        assert (answer.status, [d["field"] for d in answer.details]) == (400, ["after"]), changed


def test_a_badly_named_patient_is_400() -> None:
    answer = listing("a b", role="reception", user="desk-1")
    assert (answer.status, [d["field"] for d in answer.details]) == (400, ["patientId"])


def test_a_patients_bookings_are_two_indexed_queries_and_a_read_of_names_and_take_no_lock(
    monkeypatch: pytest.MonkeyPatch,
    allocator: Allocator,
    doctor_id: str,
    soon: datetime,
    counted_runtime: tuple[MongoCommandCounter, CountingRedis],  # noqa: F811 (the fixture imported above)
) -> None:
    mongo_counter, counting_redis = counted_runtime
    for hour in range(3):
        opened = slot_at(allocator, doctor_id, soon + timedelta(hours=hour))
        allocator.book(opened.slot_id, "pat-counted", Source.ONLINE)
    assert len(listed("pat-counted")) == 3  # connects, as a cold start would
    mongo_counter.commands.clear()
    counting_redis.commands.clear()

    # The slots holding the patient's bookings, their finished bookings that went to the archive, and the
    # patient's name from the register.
    assert len(listed("pat-counted")) == 3
    assert (dict(mongo_counter.commands), dict(counting_redis.commands)) == ({"mongo find": 3}, {})

    # A page is the same three queries, the one after a cursor as well: here of 2 bookings a page.
    monkeypatch.setattr(reads, "BOOKINGS_PAGE", 2)
    monkeypatch.setattr(reads, "BOOKINGS_PAGE_SLOTS", 4)
    mongo_counter.commands.clear()
    first = listing("pat-counted").body
    assert (len(first["bookings"]), dict(mongo_counter.commands)) == (2, {"mongo find": 3})
    mongo_counter.commands.clear()
    rest = listing("pat-counted", {"after": first["next"]}).body
    assert (len(rest["bookings"]), rest["next"], dict(mongo_counter.commands)) == (1, None, {"mongo find": 3})
    assert dict(counting_redis.commands) == {}


def test_post_bookings_documents_waitlist_full() -> None:
    app = handler_module("create_booking").app
    document = json.loads(app.get_openapi_json_schema(security_schemes=openapi.SECURITY_SCHEMES))
    conflict = document["paths"]["/bookings"]["post"]["responses"]["409"]["description"]
    assert "SLOT_FULL" in conflict and "WAITLIST_FULL" in conflict
