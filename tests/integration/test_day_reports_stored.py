"""Daily reports on the real servers (nx-27017 and redis-server; a real MongoDB when MONGODB_URI is set): the sweeper
writes a day's row once it is over, once; the row never changes after; the backfill writes a past day's; bookings gone
to the archive count; SMS are counted per doctor's day (contract, "Reports")."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import pytest
import redis
from aws_lambda_powertools.utilities.typing import LambdaContext
from pymongo import MongoClient

from devserver.apigw import LambdaContext as LocalContext
from functions.sweep_no_shows import app as sweeper
from opd import domain, runtime
from opd.dayreports import SMS_COUNTS, DayReportStore, DaySmsCounter
from opd.doctors import DoctorStore
from opd.domain import ARCHIVE_AT, Capacity, Doctor, Slot, Source
from opd.errors import DependencyUnavailable
from opd.mongo import Document
from opd.service import Allocator, new_booking_id, new_slot_id
from opd.service.daily import DayReporter
from opd.settings import Settings
from opd.sms import RedisSmsLedger, SmsNotifier
from tests.handlers.support import call, event, point_runtime_at
from tests.support.events import RecordingPublisher

GRACE = timedelta(minutes=15)  # the settings' default no-show grace


class Clock:
    """The service's clock, moved by the test through the day it plays."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def day() -> date:
    """Tomorrow (UTC, the clinic's zone here): a day whose slots the service lets the test create and play."""
    return datetime.now(UTC).date() + timedelta(days=1)


@pytest.fixture
def clock(day: date) -> Clock:
    return Clock(at(day, "07:00"))


@pytest.fixture
def service(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, mongo_uri: str, database_name: str, clock: Clock
) -> Iterator[Allocator]:
    """The handlers' own allocator (opd.runtime, pointed at this test's database), on the test's clock."""
    point_runtime_at(monkeypatch, redis_url, mongo_uri, database_name)
    allocator = runtime.allocator()
    allocator.clock = clock
    yield allocator
    runtime.reset()


def at(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=UTC)


def sweep(now: datetime, **extra: Any) -> dict[str, Any]:
    """The scheduled sweeper's handler, told `now` as the local runner tells it."""
    context = cast(LambdaContext, LocalContext("SweepNoShowsFunction", memory_limit_in_mb=512, timeout_s=60))
    result: dict[str, Any] = sweeper.lambda_handler({"now": now.isoformat(), **extra}, context)
    return result


def rows(first: date, last: date, **query: str) -> list[dict[str, Any]]:
    answer = call("get_daily_reports", event("get_daily_reports", query={"from": str(first), "to": str(last), **query}))
    assert answer.status == 200, answer.body
    days: list[dict[str, Any]] = answer.body["days"]
    return days


def play_a_day(service: Allocator, clock: Clock, day: date, doctor_id: str) -> None:
    """Two slots. 09:00: three patients checked in at 08:50, called 09:00 / 09:10 / 09:30 (waits 10, 20, 40), each
    call-next completing the one before, the last at 09:40 (consultations 10, 20, 10); a fourth never comes (the
    sweeper's no-show). 10:00: one patient checked in 10:00, called 10:05 (wait 5), seen 15 minutes; one cancelled."""
    clock.now = at(day, "07:00")
    first = service.create_slot(doctor_id, at(day, "09:00"), at(day, "10:00"))
    second = service.create_slot(doctor_id, at(day, "10:00"), at(day, "11:00"), Capacity(4, 1, 1))
    seen = [service.book(first.slot_id, f"p-{n}", Source.WALKIN) for n in range(3)]
    service.book(first.slot_id, "p-absent", Source.ONLINE)
    later = service.book(second.slot_id, "p-later", Source.PAID)
    leaving = service.book(second.slot_id, "p-leaving", Source.ONLINE)
    clock.now = at(day, "08:50")
    for booking in seen:
        service.check_in(booking.booking_id)
    for clock_time in ("09:00", "09:10", "09:30", "09:40"):  # each call completes the one before
        clock.now = at(day, clock_time)
        service.call_next(first.slot_id, by="desk-1")
    clock.now = at(day, "09:45")
    service.cancel(leaving.booking_id)
    clock.now = at(day, "10:00")
    service.check_in(later.booking_id)
    clock.now = at(day, "10:05")
    service.call_next(second.slot_id, by="desk-1")
    clock.now = at(day, "10:20")
    service.complete(later.booking_id, by="desk-1")


def test_the_sweeper_writes_a_finished_day_once_and_it_never_changes(
    service: Allocator, clock: Clock, day: date, doctor_id: str
) -> None:
    DoctorStore(service.store.collection.database["doctors"]).record(Doctor.of(doctor_id, "Dr Rao", "ENT"))
    play_a_day(service, clock, day, doctor_id)
    reports = runtime.day_reports()

    clock.now = at(day, "10:30")
    sweep(clock.now)  # marks the 09:00 slot's no-show; the 10:00 slot has not ended
    assert rows(day, day) == []  # a day not over yet is absent
    clock.now = at(day, "11:00")
    sweep(clock.now)
    [row] = rows(day, day)
    assert row == {
        "date": day.isoformat(),
        "doctorId": doctor_id,
        "doctorName": "Dr Rao",
        "department": "ENT",
        "slots": 2,
        "capacity": 15 + 6,
        "places": 6,
        "consultations": 4,
        "noShows": 1,
        "cancelled": {"PATIENT": 0, "STAFF": 1, "RESCHEDULED": 0, "DOCTOR_UNAVAILABLE": 0, "WAITLIST_EXPIRED": 0},
        "waitlist": {"joined": 0, "promoted": 0, "expired": 0},
        "byTier": {
            "STANDARD": {"places": 5, "noShows": 1},
            "PREMIUM": {"places": 1, "noShows": 0},
            "CRITICAL": {"places": 0, "noShows": 0},
        },
        # Waits 5 10 20 40: median 15, p90 the ceil(3.6) = 4th, 40. Consultations 10 10 15 20: median 12.5, p90 20.
        "waitMinutes": {"median": 15.0, "p90": 40.0},
        "consultMinutes": {"median": 12.5, "p90": 20.0},
        "firstCallLateMinutes": 2.5,  # 09:00 called at 09:00 (0), 10:00 at 10:05 (5): median 2.5
        "sms": None,  # no SMS was ever counted here
    }
    stored = reports.reports.find_one({"_id": f"{doctor_id}|{day.isoformat()}"})
    assert stored is not None
    written_at = stored["reportedAt"]

    # Later runs write nothing more; an edit of the slots' documents after the day is final changes nothing.
    assert runtime.day_reporter().finish_days(at(day, "11:05")).written == 0
    service.store.collection.update_many({"doctorId": doctor_id}, {"$set": {"bookings": [], "capacity.base": 1}})
    clock.now = at(day, "12:00")
    sweep(clock.now)
    assert rows(day, day) == [row]
    again = reports.reports.find_one({"_id": f"{doctor_id}|{day.isoformat()}"})
    assert again is not None and again["reportedAt"] == written_at
    assert reports.reports.count_documents({}) == 1


def test_bookings_gone_to_the_archive_are_counted(
    service: Allocator, allocator: Allocator, clock: Clock, day: date, doctor_id: str
) -> None:
    # The `allocator` fixture publishes its events (to a recording bus), so finished bookings may leave the slot; the
    # sweeper's handler (`service`) reads the same database.
    allocator.clock = clock
    service = allocator
    clock.now = at(day, "07:00")
    slot = service.create_slot(doctor_id, at(day, "09:00"), at(day, "09:30"), Capacity(2, 0, 0))
    for n in range(2 * ARCHIVE_AT):  # each cancelled: the slot moves them to the archive ten at a time
        service.cancel(service.book(slot.slot_id, f"c-{n}", Source.ONLINE).booking_id, by="desk-1")
    stays = service.book(slot.slot_id, "stays", Source.ONLINE)
    store = service.store
    assert store.archive.collection.count_documents({"slotId": slot.slot_id}) >= ARCHIVE_AT
    assert len(store.get(slot.slot_id).bookings) < 2 * ARCHIVE_AT  # type: ignore[union-attr]

    clock.now = at(day, "09:30")
    sweep(clock.now)  # `stays` never came: a no-show
    [row] = rows(day, day)
    assert (row["places"], row["noShows"], row["cancelled"]["STAFF"]) == (2 * ARCHIVE_AT + 1, 1, 2 * ARCHIVE_AT)
    assert row["byTier"]["STANDARD"] == {"places": 2 * ARCHIVE_AT + 1, "noShows": 1}
    assert stays.token == 2 * ARCHIVE_AT + 1


def past_slot(store: Any, doctor_id: str, start: datetime) -> Slot:
    """A slot of a past day with one booking the sweeper marked, stored as it would be (create_slot refuses the
    past)."""
    slot = domain.new_slot(new_slot_id(), doctor_id, start, start + timedelta(minutes=30), Capacity(), start)
    slot, _ = domain.book(slot, new_booking_id(slot.slot_id), "p-1", Source.ONLINE, start - GRACE, 20)
    slot, _ = domain.mark_no_shows(slot, start + GRACE, 15)
    store.insert(slot)
    return slot


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # a refused backfill measures nothing
def test_the_backfill_writes_a_past_day_the_sweeper_no_longer_looks_at(
    service: Allocator, clock: Clock, doctor_id: str
) -> None:
    today = datetime.now(UTC).date()
    clock.now = at(today, "12:00")
    past = today - timedelta(days=3)
    past_slot(service.store, doctor_id, at(past, "09:00"))
    past_slot(service.store, doctor_id, at(past, "09:30"))

    sweep(clock.now)  # looks back a day only
    assert rows(past, past) == []
    assert sweep(clock.now, backfill={"from": str(past), "to": str(today)}) == {
        "written": 1,
        "pending": 0,
        "finished": True,
        "resumeFrom": None,
    }
    [row] = rows(past, past)
    assert (row["slots"], row["places"], row["noShows"], row["doctorName"]) == (2, 2, 2, doctor_id)
    again = sweep(clock.now, backfill={"from": str(past), "to": str(past)})
    assert again["written"] == 0
    with pytest.raises(ValueError, match="at most 92 days"):
        sweep(clock.now, backfill={"from": str(today - timedelta(days=92)), "to": str(today)})
    with pytest.raises(ValueError, match="dates must be from"):
        sweep(clock.now, backfill={"from": str(today - timedelta(days=740)), "to": str(today - timedelta(days=735))})


def test_sms_are_counted_per_doctors_day(
    allocator: Allocator,
    bus: RecordingPublisher,
    redis_client: redis.Redis,
    mongo_client: MongoClient[Document],
    database_name: str,
    doctor_id: str,
    day: date,
) -> None:
    """The notifier adds what it sent about each event's slot to that doctor's day, and the day's row reads it: the
    count; 0 for a later day without SMS (counting had begun); null for a day before any was counted."""
    database = mongo_client[database_name]
    clock = Clock(at(day, "07:00"))
    allocator.clock = clock
    slot = allocator.create_slot(doctor_id, at(day, "09:00"), at(day, "09:30"))
    for n in range(3):
        allocator.book(slot.slot_id, f"p-{n}", Source.ONLINE, phone=f"+9198765432{n:02d}")
    quiet = allocator.create_slot(doctor_id, at(day, "09:00") + timedelta(days=1), at(day, "09:30") + timedelta(days=1))
    allocator.book(quiet.slot_id, "no-phone", Source.WALKIN)
    before = past_slot(allocator.store, doctor_id, at(day - timedelta(days=1), "09:00"))
    allocator.sweep_no_shows(now=at(day, "23:00") + timedelta(days=1))  # the two days' bookings: no-shows
    # A month no other test spends in, and a limit that pays for every SMS.
    month = datetime(2098, 1 + secrets.randbelow(12), 1, tzinfo=UTC)
    sent: list[tuple[str, str]] = []
    notifier = SmsNotifier(
        RedisSmsLedger(redis_client),
        lambda phone, text: sent.append((phone, text)),
        Settings(sms_monthly_spend_limit_usd=1000.0),
        lambda: month,
        count_day=DaySmsCounter(database[SMS_COUNTS]).count,
    )
    for entry in [*bus.entries, *bus.entries]:  # delivered twice: each SMS goes, and is counted, once
        notifier.notify({"detail-type": entry.detail_type, "detail": json.loads(entry.detail)})
    assert len(sent) == 3

    reports = DayReportStore(database)
    reports.ensure_indexes()
    reporter = DayReporter(reports, DoctorStore(database["doctors"]), Settings())
    done = reporter.backfill(before.start.date(), day + timedelta(days=1), at(day, "23:00") + timedelta(days=1))
    assert (done.written, done.finished) == (3, True)
    sms = {r.day: r.figure("sms") for r in reports.days(day - timedelta(days=1), day + timedelta(days=1))}
    assert sms == {str(day - timedelta(days=1)): None, str(day): 3, str(day + timedelta(days=1)): 0}


def test_an_sms_counter_that_cannot_be_written_never_fails_the_sms(
    allocator: Allocator, bus: RecordingPublisher, redis_client: redis.Redis, doctor_id: str, day: date
) -> None:
    allocator.clock = Clock(at(day, "07:00"))
    slot = allocator.create_slot(doctor_id, at(day, "09:00"), at(day, "09:30"))
    allocator.book(slot.slot_id, "p-1", Source.ONLINE, phone="+919876543299")

    def unreachable(doctor: str, when: date, sent: int) -> None:
        raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")

    sent: list[tuple[str, str]] = []
    month = datetime(2097, 1 + secrets.randbelow(12), 1, tzinfo=UTC)
    notifier = SmsNotifier(
        RedisSmsLedger(redis_client),
        lambda phone, text: sent.append((phone, text)),
        Settings(sms_monthly_spend_limit_usd=1000.0),
        lambda: month,
        count_day=unreachable,
    )
    [created] = [e for e in bus.entries if e.detail_type == "BookingCreated"]
    done = notifier.notify({"detail-type": created.detail_type, "detail": json.loads(created.detail)})
    assert (done.sent, len(sent)) == (1, 1)  # sent, not counted, and the event does not fail (no second SMS)
