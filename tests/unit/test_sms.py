"""The SMS an event sends: which, to whom, in what words; at most one per event and phone; the spend cap."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import catalogs, domain, eventbridge, messages
from opd.doctors import DoctorNames
from opd.domain import BookingOptions, CancelReason, Capacity, Doctor, Language, Slot, Source, Status
from opd.errors import DependencyUnavailable
from opd.settings import Settings
from opd.sms import SmsNotifier, SmsNotSent

START = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)  # 09:00 in Asia/Kolkata
BEFORE = START - timedelta(hours=2)
PHONE = "+919876543210"
OTHER = "+447700900123"
SETTINGS = Settings(clinic_time_zone="Asia/Kolkata")


class FakeLedger:
    """The Redis script's rules in a dict: a claim per (event, phone), parts per month."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], str] = {}
        self.spent: dict[str, int] = {}

    def claim(self, event_id: str, phone: str, parts: int, cap_parts: int, month: str) -> str:
        if (event_id, phone) in self.claims:
            return "duplicate"
        if self.spent.get(month, 0) + parts > cap_parts:
            self.claims[event_id, phone] = "capped"
            return "capped"
        self.claims[event_id, phone] = "sending"
        self.spent[month] = self.spent.get(month, 0) + parts
        return "claimed"

    def unclaim(self, event_id: str, phone: str, parts: int, month: str) -> None:
        del self.claims[event_id, phone]
        self.spent[month] -= parts


class Phones:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failing: set[str] = set()

    def send(self, phone: str, text: str) -> None:
        if phone in self.failing:
            raise ConnectionError("SNS unreachable")
        self.sent.append((phone, text))


def notifier(phones: Phones, ledger: FakeLedger | None = None, settings: Settings = SETTINGS) -> SmsNotifier:
    return SmsNotifier(ledger or FakeLedger(), phones.send, settings, lambda: START)


def bus_events(before: Slot, after: Slot, at: datetime = BEFORE) -> list[dict[str, Any]]:
    """What EventBridge hands the notifier for the change: one event per outbox entry."""
    written = domain.with_events(before, after, at)
    stored = replace(written, version=before.version + 1)
    return [
        {"detail-type": entry.detail_type, "detail": json.loads(entry.detail), "source": "opd"}
        for entry in eventbridge.entries(stored, written.outbox, 20)
    ]


def slot_with(*phones: str | None, base: int = 10) -> Slot:
    slot = Slot("slot-1", "dr-rao", START, START + timedelta(hours=1), Capacity(base, 0, 0))
    for n, phone in enumerate(phones):
        slot, _ = domain.book(
            slot, f"slot-1.b{n}", f"p{n}", Source.ONLINE, BEFORE, 20, BookingOptions(waitlist=True, phone=phone)
        )
    return slot


def texts(event: dict[str, Any]) -> list[messages.Sms]:
    return messages.texts(event["detail-type"], event["detail"], SETTINGS.clinic_zone)


def test_a_booking_is_told_its_token_and_time_in_the_clinics_zone() -> None:
    slot = slot_with(PHONE)
    after, _ = domain.book(slot, "slot-1.n", "pn", Source.ONLINE, BEFORE, 20, BookingOptions(phone=OTHER))
    (event,) = bus_events(slot, after)
    assert texts(event) == [
        messages.Sms(OTHER, "OPD: booked with Dr dr-rao on 21/11, token 2. Expect to be called about 09:06.")
    ]


@pytest.mark.parametrize(
    ("change", "told"),
    [
        (lambda s: domain.transition(s, s.bookings[0], Status.CHECKED_IN, BEFORE)[0], []),
        (lambda s: domain.transition(s, s.bookings[0], Status.NO_SHOW, BEFORE)[0], []),
        (lambda s: domain.transition(s, s.bookings[0], Status.CANCELLED, BEFORE, reason=CancelReason.PATIENT)[0], []),
        (lambda s: domain.close_for_leave(s, BEFORE, "admin")[0], ["Dr dr-rao is away on 21/11"]),
        (lambda s: domain.set_delay(s, True, 25, BEFORE), ["running about 25 min late"]),
        (lambda s: domain.set_delay(s, False, None, BEFORE), []),
    ],
)
def test_which_events_send_an_sms(change: Any, told: list[str]) -> None:
    slot = slot_with(PHONE)
    if "late" not in "".join(told):
        slot = domain.set_delay(slot, True, 10)
    sent = [m for event in bus_events(slot, change(slot)) for m in texts(event)]
    assert [m.phone for m in sent] == [PHONE] * len(told)
    assert all(fragment in m.text for fragment, m in zip(told, sent, strict=True))


def test_call_promote_reschedule_and_waitlist_expiry_are_told() -> None:
    slot = slot_with(PHONE, OTHER, base=1)  # the OTHER waits
    cancelled, _ = domain.transition(slot, slot.bookings[0], Status.CANCELLED, BEFORE)  # OTHER is promoted
    assert [m.text[:25] for e in bus_events(slot, cancelled) for m in texts(e)] == ["OPD: a place came free. D"]
    moving = domain.begin_reschedule(cancelled, cancelled.bookings[1], "slot-2.x")
    moved, _ = domain.finish_reschedule(moving, moving.bookings[1], BEFORE, "desk")
    (told,) = [m for e in bus_events(moving, moved) for m in texts(e)]
    assert told.phone == OTHER and "has moved" in told.text
    waiting = slot_with(PHONE, OTHER, base=1)
    checked, _ = domain.transition(waiting, waiting.bookings[0], Status.CHECKED_IN, BEFORE)
    swept, _ = domain.mark_no_shows(checked, START + timedelta(minutes=20), 15)
    (expired,) = [m for e in bus_events(checked, swept) for m in texts(e)]
    assert expired.phone == OTHER and "waitlist request has ended" in expired.text
    checked_in = domain.transition(slot, slot.bookings[0], Status.CHECKED_IN, BEFORE)[0]
    room, _, _ = domain.call_next(checked_in, BEFORE, "desk")
    assert room is not None
    assert [m.text for e in bus_events(checked_in, room) for m in texts(e)] == [
        "OPD: token 1, please go in to Dr dr-rao now."
    ]


def test_a_delay_tells_each_booked_or_checked_in_phone_once() -> None:
    slot = slot_with(PHONE, OTHER, None, PHONE)  # PHONE holds two bookings: one SMS
    (event,) = bus_events(slot, domain.set_delay(slot, True, 30, BEFORE))
    assert [m.phone for m in texts(event)] == [PHONE, OTHER]


def test_one_event_delivered_twice_sends_one_sms_to_each_phone() -> None:
    slot = slot_with(PHONE, OTHER)
    (event,) = bus_events(slot, domain.set_delay(slot, True, 30, BEFORE))
    phones = Phones()
    ledger = FakeLedger()
    first = notifier(phones, ledger).notify(event)
    again = notifier(phones, ledger).notify(event)  # another environment, the same Redis
    assert (first.sent, again.sent, again.duplicates) == (2, 0, 2)
    assert sorted(p for p, _ in phones.sent) == sorted([PHONE, OTHER])


def test_a_failed_send_fails_the_event_and_its_retry_sends_only_what_is_missing() -> None:
    slot = slot_with(PHONE, OTHER)
    (event,) = bus_events(slot, domain.set_delay(slot, True, 30, BEFORE))
    phones, ledger = Phones(), FakeLedger()
    phones.failing = {OTHER}
    with pytest.raises(SmsNotSent):
        notifier(phones, ledger).notify(event)
    phones.failing = set()
    retried = notifier(phones, ledger).notify(event)
    assert (retried.sent, retried.duplicates) == (1, 1)
    assert [p for p, _ in phones.sent] == [PHONE, OTHER]


def test_the_months_spend_limit_stops_sending() -> None:
    limited = Settings(sms_monthly_spend_limit_usd=0.02, sms_price_usd=0.01)  # 2 parts a month
    slot = slot_with(PHONE, OTHER, "+15550100000")
    (event,) = bus_events(slot, domain.set_delay(slot, True, 30, BEFORE))
    phones = Phones()
    done = notifier(phones, settings=limited).notify(event)
    assert (done.sent, done.capped, len(phones.sent)) == (2, 1, 2)


def test_parts_are_counted_as_sns_bills_them() -> None:
    assert messages.parts("a" * 160) == 1 and messages.parts("a" * 161) == 2 and messages.parts("a" * 307) == 3
    assert messages.parts("नमस्ते") == 1 and messages.parts("न" * 71) == 2
    # Each message's parts in each language: tests/unit/test_catalogs.py.


def test_an_event_without_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="eventId"):
        notifier(Phones()).notify({"detail-type": "BookingCreated", "detail": {}})


def test_an_sms_names_the_doctor_as_the_directory_records_them() -> None:
    slot = slot_with(PHONE)
    after, _ = domain.book(slot, "slot-1.n", "pn", Source.ONLINE, BEFORE, 20, BookingOptions(phone=OTHER))
    (event,) = bus_events(slot, after)
    named = messages.texts(event["detail-type"], event["detail"], SETTINGS.clinic_zone, {"dr-rao": "Dr Asha Rao"}.get)  # type: ignore[arg-type]
    assert [m.text for m in named] == [
        "OPD: booked with Dr Asha Rao on 21/11, token 2. Expect to be called about 09:06."
    ]


class CountedDirectory:
    """The directory's `get`, counting reads; `down` makes it unreachable."""

    def __init__(self, **names: str) -> None:
        self.names, self.reads, self.down = names, 0, False

    def get(self, doctor_id: str) -> Doctor | None:
        self.reads += 1
        if self.down:
            raise DependencyUnavailable("mongo", "MongoDB unreachable")
        name = self.names.get(doctor_id.replace("-", "_"))
        return None if name is None else Doctor(doctor_id, name, "General Medicine")


def test_the_notifier_reads_a_doctors_name_once_in_a_while_and_never_fails_for_it() -> None:
    directory, now = CountedDirectory(dr_rao="Dr Asha Rao"), [0.0]
    names = DoctorNames(directory, keep_s=300, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [names("dr-rao"), names("dr-rao"), names("dr-x")] == ["Dr Asha Rao", "Dr Asha Rao", "Dr dr-x"]
    assert directory.reads == 2  # once per doctor while kept
    now[0], directory.down = 301.0, True
    assert (names("dr-rao"), names("dr-new")) == ("Dr Asha Rao", "Dr dr-new")  # the last name read, or the id
    directory.down, directory.names["dr_rao"] = False, "Dr A. Rao"
    assert names("dr-rao") == "Dr A. Rao"  # read again once its time is up


# -- languages (contract, "Languages") ----------------------------------------------------------------------------


def devanagari(text: str) -> bool:
    return any("\u0900" <= character <= "\u097f" for character in text)


def tamil(text: str) -> bool:
    return any("\u0b80" <= character <= "\u0bff" for character in text)


def test_a_booking_is_told_in_its_language() -> None:
    slot = slot_with(PHONE)
    asked = BookingOptions(phone=OTHER, language=Language.HI)
    after, _ = domain.book(slot, "slot-1.n", "pn", Source.ONLINE, BEFORE, 20, asked)
    (event,) = bus_events(slot, after)
    assert event["detail"]["booking"]["language"] == "hi"
    fields = {"doctor": "Dr dr-rao", "date": "21/11", "token": 2, "time": "09:06"}
    expected = catalogs.template("BookingCreated", Language.HI).format(**fields)
    assert texts(event) == [messages.Sms(OTHER, expected)]
    assert devanagari(expected) and "टोकन 2" in expected and "09:06" in expected


def test_a_delay_tells_each_phone_in_its_bookings_language() -> None:
    slot = Slot("slot-1", "dr-rao", START, START + timedelta(hours=1), Capacity(10, 0, 0))
    for n, (phone, language) in enumerate([(PHONE, Language.TA), (OTHER, Language.HI), ("+15550100000", None)]):
        asked = BookingOptions(phone=phone, language=language)
        slot, _ = domain.book(slot, f"slot-1.b{n}", f"p{n}", Source.WALKIN, BEFORE, 20, asked)
    (event,) = bus_events(slot, domain.set_delay(slot, True, 25, BEFORE))
    assert [r["language"] for r in event["detail"]["recipients"]] == ["ta", "hi", None]
    sent = messages.texts(event["detail-type"], event["detail"], SETTINGS.clinic_zone, default_language=Language.HI)
    ta, hi, made_before_languages = (m.text for m in sent)
    assert tamil(ta) and "டோக்கன் 1" in ta and "25" in ta
    assert devanagari(hi) and "टोकन 2" in hi
    assert devanagari(made_before_languages) and "टोकन 3" in made_before_languages  # no language: the default's


def test_the_notifier_writes_a_booking_without_a_language_in_default_language() -> None:
    slot = slot_with(PHONE)  # booked without a language, as before bookings had one
    (event,) = bus_events(slot, domain.set_delay(slot, True, 30, BEFORE))
    assert event["detail"]["recipients"][0]["language"] is None
    phones = Phones()
    notifier(phones, settings=SETTINGS.model_copy(update={"default_language": Language.TA})).notify(event)
    ((phone, text),) = phones.sent
    assert phone == PHONE and tamil(text) and text.startswith("OPD: Dr dr-rao 21/11: 30 நிமிடம் தாமதம்")


def test_a_language_no_longer_offered_is_told_in_the_default() -> None:
    assert messages.language_of("fr", Language.HI) is Language.HI
    assert messages.language_of(None, Language.EN) is Language.EN
    assert messages.language_of("ta", Language.EN) is Language.TA


def test_a_bookings_language_is_stored_with_it_and_one_made_before_languages_reads_as_none() -> None:
    from opd.mongo import booking_from_doc, booking_to_doc

    asked = BookingOptions(phone=PHONE, language=Language.TA)
    _, booking = domain.book(slot_with(), "slot-1.a", "p", Source.ONLINE, BEFORE, 20, asked)
    doc = booking_to_doc(booking)
    assert doc["language"] == "ta" and booking_from_doc(doc, "slot-1", "dr-rao") == booking
    before_languages = {name: value for name, value in doc.items() if name != "language"}
    assert booking_from_doc(before_languages, "slot-1", "dr-rao").language is None
    assert "language" not in booking_to_doc(replace(booking, language=None))  # no field: slot documents stay small
    assert booking_from_doc({**doc, "language": "fr"}, "slot-1", "dr-rao").language is None  # one no longer offered
