"""Status links in pure code (contract, "Status links"): every booking's code, what its Status says, the lookup
behind the ports (on the fakes), the link at the end of every SMS about a booking, and SMS parts."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import domain, eventbridge, messages
from opd.domain import BookingOptions, CancelReason, Capacity, Slot, Source, Status
from opd.errors import NotFound, ValidationFailed
from opd.service import Allocator, RequestKey, new_status_code
from opd.service.reads import booking_of_status_code
from opd.settings import Settings, SettingsError
from opd.sms import SmsNotifier
from tests.unit.fakes import FakeSlotLock, FakeSlotStore
from tests.unit.test_sms import FakeLedger, Phones

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)  # 09:00 in Asia/Kolkata
END = START + timedelta(hours=1)
NOW = START - timedelta(hours=2)
URL = "https://d111111abcdef8.cloudfront.net"  # a CloudFront distribution's domain, as AWS's examples write it
SIX = timedelta(minutes=6)  # a 60-minute slot of base 10: each consultation's share
SETTINGS = Settings(clinic_time_zone="Asia/Kolkata", public_url=URL)

type FakeAllocator = Allocator[FakeSlotStore, FakeSlotLock]


def code(n: int) -> str:
    return f"code{n:012d}"  # 16 characters, as the service's


def clinic(*phones: str | None, base: int = 10) -> Slot:
    """A slot with one booking per phone (each with a code), joining the waitlist once the base is full."""
    slot = Slot("slot-1", "dr-rao", START, END, Capacity(base, 0, 0))
    for n, phone in enumerate(phones):
        options = BookingOptions(waitlist=True, phone=phone, status_code=code(n))
        slot, _ = domain.book(slot, f"slot-1.b{n}", f"p{n}", Source.ONLINE, NOW, 20, options)
    return slot


@pytest.fixture
def allocator() -> FakeAllocator:
    return Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW)


# -- the code ------------------------------------------------------------------------------------


def test_a_code_is_96_random_bits_url_safe_and_never_the_same_twice() -> None:
    codes = {new_status_code() for _ in range(10_000)}
    assert len(codes) == 10_000
    assert all(domain.STATUS_CODE_PATTERN.fullmatch(c) and len(c) == 16 for c in codes)
    assert all(len(base64.urlsafe_b64decode(c)) == 12 for c in list(codes)[:100])  # 12 bytes: 96 bits
    assert len({c[:4] for c in codes}) > 5_000  # random from the first character on: no counter, no clock


def test_every_booking_the_service_makes_has_its_own_code_and_a_repeat_has_the_same(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END, Capacity(1, 0, 0))
    target = allocator.create_slot("dr-rao", END, END + timedelta(hours=1))
    key = RequestKey("caller-key", "body-hash")
    first = allocator.book(slot.slot_id, "asha", Source.ONLINE, key)
    again = allocator.book(slot.slot_id, "asha", Source.ONLINE, key)
    waiting = allocator.book(slot.slot_id, "ravi", Source.ONLINE, waitlist=True)
    moved = allocator.reschedule(first.booking_id, target.slot_id)
    codes = [first.status_code, waiting.status_code, moved.status_code]
    assert again.status_code == first.status_code and again.booking_id == first.booking_id
    assert all(c is not None and domain.STATUS_CODE_PATTERN.fullmatch(c) for c in codes)
    assert len(set(codes)) == 3
    stored = {b.booking_id: b.status_code for s in allocator.store.slots.values() for b in s.bookings}
    assert stored == {first.booking_id: first.status_code, waiting.booking_id: waiting.status_code,
                      moved.booking_id: moved.status_code}  # fmt: skip


# -- what a Status says ----------------------------------------------------------------------------


def test_a_queued_bookings_status_is_its_answers_standing_with_the_token_being_called() -> None:
    slot = clinic(None, None, None)
    for n in (0, 1):
        slot, _ = domain.transition(slot, slot.bookings[n], Status.CHECKED_IN, NOW)
    called_at = NOW + timedelta(minutes=1)
    called, _, _ = domain.call_next(slot, called_at, "desk")
    assert called is not None
    slot = called
    third = slot.bookings[2]
    status = domain.booking_status(slot, third, NOW + timedelta(minutes=2))
    assert status == domain.BookingStatus(
        doctor_id="dr-rao", token=3, status=Status.BOOKED, start=START, end=END, delayed=False, delay_minutes=0,
        closed=False, position=2, estimated_call_at=called_at + SIX + SIX, waitlist_position=None, calling=1,
    )  # fmt: skip
    answered = domain.answered(slot, third, NOW + timedelta(minutes=2))
    assert answered.standing == domain.Standing(status.position or 0, status.estimated_call_at)
    in_room = domain.booking_status(slot, slot.bookings[0], NOW)
    assert (in_room.status, in_room.position, in_room.calling) == (Status.CALLED, 0, 1)


def test_a_waitlisted_and_a_delayed_bookings_status() -> None:
    slot = domain.set_delay(clinic(None, None, base=1), True, 25)
    waiting = domain.booking_status(slot, slot.bookings[1], NOW)
    assert (waiting.token, waiting.status, waiting.position, waiting.waitlist_position) == (
        None, Status.WAITLISTED, None, 1,
    )  # fmt: skip
    booked = domain.booking_status(slot, slot.bookings[0], NOW)
    assert (booked.delayed, booked.delay_minutes, booked.estimated_call_at) == (True, 25, START + timedelta(minutes=25))
    assert booked.calling is None


def test_a_finished_booking_out_of_its_slot_shows_its_state_and_the_slots_notices() -> None:
    slot = clinic(None)
    slot, cancelled = domain.transition(slot, slot.bookings[0], Status.CANCELLED, NOW, reason=CancelReason.PATIENT)
    archived = domain.without_archived(slot, [cancelled])
    status = domain.booking_status(replace(archived, closed=True), cancelled, NOW)
    assert (status.status, status.token, status.position, status.closed) == (Status.CANCELLED, 1, None, True)


def test_only_a_finished_reschedule_is_followed() -> None:
    slot = clinic(None)
    moving = domain.begin_reschedule(slot, slot.bookings[0], "slot-2.x")
    assert domain.replaced_by(moving.bookings[0]) is None  # still BOOKED: its place is still this one
    _, old = domain.finish_reschedule(moving, moving.bookings[0], NOW, "desk")
    assert domain.replaced_by(old) == "slot-2.x"
    assert domain.replaced_by(slot.bookings[0]) is None


@pytest.mark.parametrize(
    "bad", ["", "short", "a" * 15, "a" * 65, "code00000000000/", "code 00000000000", "cödé0000000000000"]
)
def test_a_code_outside_the_pattern_is_a_validation_error_naming_code(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.require_status_code(bad)
    assert refused.value.details[0]["field"] == "code"


# -- the lookup, behind the ports ----------------------------------------------------------------------


def test_a_code_is_looked_up_in_the_slots_then_the_archive(allocator: FakeAllocator) -> None:
    slot = allocator.create_slot("dr-rao", START, END)
    kept = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    gone = allocator.cancel(allocator.book(slot.slot_id, "ravi", Source.ONLINE).booking_id)
    stored = allocator.get_slot(slot.slot_id)
    allocator.store.archive.add(stored, [gone])  # as a write archives it
    allocator.store.slots[slot.slot_id] = domain.without_archived(stored, [gone])
    assert kept.status_code and gone.status_code
    assert booking_of_status_code(allocator.store, kept.status_code)[1].booking_id == kept.booking_id
    found_slot, found = booking_of_status_code(allocator.store, gone.status_code)
    assert (found_slot.slot_id, found.booking_id, found.status) == (slot.slot_id, gone.booking_id, Status.CANCELLED)
    with pytest.raises(NotFound) as unknown:
        booking_of_status_code(allocator.store, "x" * 16)
    assert "x" * 16 not in unknown.value.message  # a refusal's message is logged: it never quotes the code


def test_a_rescheduled_code_shows_the_new_booking_following_at_most_five_moves(allocator: FakeAllocator) -> None:
    slots = [allocator.create_slot("dr-rao", START + n * timedelta(hours=1), END + n * timedelta(hours=1))
             for n in range(7)]  # fmt: skip
    bookings = [allocator.book(slots[0].slot_id, "asha", Source.ONLINE)]
    for target in slots[1:]:
        bookings.append(allocator.reschedule(bookings[-1].booking_id, target.slot_id))
    codes = [b.status_code or "" for b in bookings]
    assert booking_of_status_code(allocator.store, codes[1])[1].booking_id == bookings[6].booking_id  # 5 moves
    assert booking_of_status_code(allocator.store, codes[6])[1].booking_id == bookings[6].booking_id
    beyond = booking_of_status_code(allocator.store, codes[0])[1]  # 6 moves: shown as the 5th move left it
    assert (beyond.booking_id, beyond.status) == (bookings[5].booking_id, Status.CANCELLED)
    status = allocator.booking_status(codes[0])
    assert (status.status, status.start) == (Status.CANCELLED, slots[5].start)
    assert allocator.booking_status(codes[2]).start == slots[6].start


# -- events and SMS ------------------------------------------------------------------------------------


def bus_events(before: Slot, after: Slot) -> list[dict[str, Any]]:
    written = domain.with_events(before, after, NOW)
    stored = replace(written, version=before.version + 1)
    return [
        {"detail-type": entry.detail_type, "detail": json.loads(entry.detail), "source": "opd"}
        for entry in eventbridge.entries(stored, written.outbox, 20)
    ]


def test_an_events_booking_and_a_delays_recipients_carry_the_status_code() -> None:
    slot = clinic("+919800000000", "+919800000001")
    (created,) = bus_events(clinic("+919800000000"), slot)
    assert created["detail"]["booking"]["statusCode"] == code(1)
    (delayed,) = bus_events(slot, domain.set_delay(slot, True, 20))
    assert [r["statusCode"] for r in delayed["detail"]["recipients"]] == [code(0), code(1)]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: domain.book(
            replace(s, capacity=Capacity(2, 0, 0)),
            "slot-1.n",
            "pn",
            Source.ONLINE,
            NOW,
            20,
            BookingOptions(phone="+919800000009", status_code=code(9)),
        )[0],
        lambda s: domain.transition(s, s.bookings[0], Status.CANCELLED, NOW)[0],  # the waitlisted one is promoted
        lambda s: domain.call_next(domain.transition(s, s.bookings[0], Status.CHECKED_IN, NOW)[0], NOW, "desk")[0],
        lambda s: domain.close_for_leave(s, NOW, "admin")[0],
        lambda s: domain.set_delay(s, True, 25, NOW),
        lambda s: domain.finish_reschedule(
            m := domain.begin_reschedule(s, s.bookings[0], "slot-2.x"), m.bookings[0], NOW, "desk"
        )[0],
    ],
    ids=["created", "promoted", "called", "doctor away", "delay", "rescheduled"],
)
def test_every_sms_about_a_booking_ends_with_its_status_link(change: Any) -> None:
    slot = clinic("+919800000000", "+919800000001", base=1)
    codes = {f"+91980000000{n}": code(n) for n in (0, 1, 9)}
    sent = [m for e in bus_events(slot, change(slot)) for m in messages.texts(
        e["detail-type"], e["detail"], SETTINGS.clinic_zone, public_url=URL)]  # fmt: skip
    assert sent
    for message in sent:
        assert message.text.endswith(f". {URL}/status.html#{codes[message.phone]}"), message.text


def test_the_notifier_sends_the_link_under_public_url_and_none_without_one() -> None:
    slot = clinic("+919800000000")
    (event,) = bus_events(Slot("slot-1", "dr-rao", START, END, Capacity(10, 0, 0)), slot)
    phones = Phones()
    SmsNotifier(FakeLedger(), phones.send, SETTINGS, lambda: NOW).notify(event)
    unset = Phones()
    SmsNotifier(FakeLedger(), unset.send, replace_public_url(None), lambda: NOW).notify(event)
    ((phone, text),) = phones.sent
    assert text == f"{unset.sent[0][1]} {URL}/status.html#{code(0)}"
    assert text.startswith("OPD: booked with Dr dr-rao on 07/01, token 1.") and phone == "+919800000000"
    old = {**event["detail"], "booking": {**event["detail"]["booking"], "statusCode": None}}  # made before links
    (as_before,) = messages.texts("BookingCreated", old, SETTINGS.clinic_zone, public_url=URL)
    assert as_before.text == unset.sent[0][1]


def replace_public_url(url: str | None) -> Settings:
    return SETTINGS.model_copy(update={"public_url": url})


@pytest.mark.parametrize(
    ("given", "kept"),
    [("https://opd.example.org/", "https://opd.example.org"), ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
     ("https://example.org/opd//", "https://example.org/opd")],
)  # fmt: skip
def test_public_url_is_an_http_url_kept_without_its_trailing_slash(given: str, kept: str) -> None:
    assert Settings.from_env({"PUBLIC_URL": given}).public_url == kept
    assert Settings.from_env({}).public_url is None


@pytest.mark.parametrize("bad", ["opd.example.org", "ftp://opd.example.org", "https://x.org/?a=1", "https://x.org/#"])
def test_a_public_url_that_cannot_take_the_link_fails_the_cold_start(bad: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        Settings.from_env({"PUBLIC_URL": bad})


# -- SMS parts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),  # 153 a part once split
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # the extension table: GSM-7, 2 septets each
        ("€" + "a" * 159, "GSM-7", 161, 2),
        ("a" * 152 + "[" + "a" * 152, "GSM-7", 306, 3),  # the escape and its character never split across parts
        ("é" * 160, "GSM-7", 160, 1),  # in the basic set
        ("आ" * 70, "UCS-2", 70, 1),
        ("आ" * 71, "UCS-2", 71, 2),
        ("आ" * 134, "UCS-2", 134, 2),  # 67 a part once split
        ("आ" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "ç", "UCS-2", 70, 1),  # one character outside GSM 03.38 makes the whole text UCS-2
        ("😀" * 35, "UCS-2", 70, 1),  # beyond U+FFFF: a surrogate pair, 2 units
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),  # the pair never split across parts
    ],
)
def test_sms_parts_by_encoding(text: str, encoding: str, units: int, parts: int) -> None:
    assert messages.size(text) == messages.SmsSize(encoding, units, parts)
    assert messages.parts(text) == parts


def test_the_local_runner_logs_a_status_request_without_its_code() -> None:
    from devserver.runner import _loggable

    assert _loggable("/status/q3Vw9Zb1Kx0Tt7Lm") == "/status/{code}"
    assert _loggable("/status/q3Vw9Zb1Kx0Tt7Lm?lang=hi") == "/status/{code}?lang=hi"
    assert _loggable("/bookings/slot-1.x") == "/bookings/slot-1.x"
