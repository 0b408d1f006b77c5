"""A booking's language through POST /bookings (contract v3, "Languages"): the one asked for, else its patient's in
the register, else DEFAULT_LANGUAGE; answered in the Booking, carried by its events, kept by a reschedule, and in an
Idempotency-Key's body hash only when it was sent."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import eventbridge, messages, runtime
from opd.domain import Slot
from opd.domain.patients import NameAndLanguage, register
from opd.errors import DependencyUnavailable
from opd.service import Allocator
from tests.handlers.support import Answer, call, event


def registered(language: str | None, name: str = "Kavya S") -> str:
    """A patient in the register, with `language` or none."""
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, object] = {"name": name}
    if language is not None:
        body["language"] = language
    patient = register(f"pt-{uuid.uuid4().hex[:16]}", body, now, now.year)
    assert runtime.patient_store().insert(patient)
    return patient.patient_id


def book(slot: Slot, patient_id: str, key: str | None = None, **more: Any) -> Answer:
    body = {"slotId": slot.slot_id, "patientId": patient_id, "source": "WALKIN", "phone": "+919800000042", **more}
    return call(
        "create_booking", event("create_booking", body=body, role="reception", headers={"Idempotency-Key": key})
    )


def booked_language(slot: Slot, patient_id: str, **more: Any) -> str:
    answer = book(slot, patient_id, **more)
    assert answer.status == 201, answer.body
    language: str = answer.body["language"]
    read = event("get_booking", path={"bookingId": answer.body["bookingId"]}, role="reception")
    assert call("get_booking", read).body["language"] == language
    return language


@pytest.fixture
def slots(allocator: Allocator, doctor_id: str) -> list[Slot]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
    return [
        allocator.create_slot(doctor_id, start + timedelta(hours=n), start + timedelta(hours=n + 1)) for n in range(4)
    ]


def test_the_language_asked_for_then_the_patients_then_the_default(
    slots: list[Slot], monkeypatch: pytest.MonkeyPatch
) -> None:
    tamil, unspoken = registered("ta"), registered(None, "Ravi Kumar")
    assert booked_language(slots[0], tamil, language="hi") == "hi"  # asked for: whatever the register says
    assert booked_language(slots[1], tamil) == "ta"  # the patient's
    assert booked_language(slots[0], unspoken) == "en"  # registered without one: the default
    assert booked_language(slots[0], "walkin-unregistered") == "en"  # not registered: the default
    monkeypatch.setenv("DEFAULT_LANGUAGE", "hi")
    runtime.reset()  # a new execution environment reads the settings again
    assert booked_language(slots[2], unspoken) == "hi"
    assert booked_language(slots[3], tamil) == "ta"  # the patient's still comes before the default


def test_the_register_is_read_once_by_id_and_only_when_no_language_is_asked_for(
    slots: list[Slot], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, asked_for = runtime.patient_store(), []
    read = store.name_and_language

    def counted(patient_id: str) -> NameAndLanguage:
        asked_for.append(patient_id)
        return read(patient_id)

    monkeypatch.setattr(store, "name_and_language", counted)
    tamil = registered("ta")
    assert booked_language(slots[0], tamil, language="en") == "en"
    assert asked_for == []
    assert booked_language(slots[1], tamil) == "ta"
    assert asked_for == [tamil]


def test_a_booking_without_a_language_reads_its_patient_once_for_the_language_and_the_name(
    slots: list[Slot], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, reads = runtime.patient_store(), []
    read_one, read_names = store.name_and_language, store.names_of

    def one(patient_id: str) -> NameAndLanguage:
        reads.append("name_and_language")
        return read_one(patient_id)

    def names(patient_ids: Any) -> dict[str, str]:
        reads.append("names_of")
        return read_names(patient_ids)

    monkeypatch.setattr(store, "name_and_language", one)
    monkeypatch.setattr(store, "names_of", names)
    tamil = registered("ta")
    answer = book(slots[0], tamil)
    assert (answer.status, answer.body["language"], answer.body["patientName"]) == (201, "ta", "Kavya S")
    assert reads == ["name_and_language"]  # the answer's name came with the language: no second read
    reads.clear()
    asked = book(slots[1], tamil, language="hi")
    assert (asked.status, asked.body["language"], asked.body["patientName"]) == (201, "hi", "Kavya S")
    assert reads == ["names_of"]  # a language asked for: the name is read with the answer, once


def test_a_register_that_cannot_be_read_books_in_the_default_never_refuses(
    slots: list[Slot], monkeypatch: pytest.MonkeyPatch
) -> None:
    tamil = registered("ta")

    def unreachable(patient_id: str) -> NameAndLanguage:
        raise DependencyUnavailable("mongo", "MongoDB unreachable: ServerSelectionTimeoutError")

    monkeypatch.setattr(runtime.patient_store(), "name_and_language", unreachable)
    answer = book(slots[0], tamil)
    assert (answer.status, answer.body["status"], answer.body["language"]) == (201, "BOOKED", "en")


@pytest.mark.parametrize("language", ["fr", "HI", "hindi", "", 1, ["hi"]])
def test_a_language_not_of_the_contract_is_400_naming_it(slots: list[Slot], language: object) -> None:
    refused = book(slots[0], "walkin-1", language=language)
    assert (refused.status, refused.code) == (400, "VALIDATION_ERROR")
    assert "language" in {detail["field"] for detail in refused.details}


def test_a_repeat_hashes_the_language_only_when_it_was_sent(slots: list[Slot]) -> None:
    tamil = registered("ta")
    first = book(slots[0], tamil, key="lang-key-1")
    assert (first.status, first.body["language"]) == (201, "ta")
    # The register changes between the two: the repeat is the same request, and answers the first booking as it was.
    changed = event("update_patient", path={"patientId": tamil}, body={"language": "hi"}, role="reception")
    assert call("update_patient", changed).status == 200
    again = book(slots[0], tamil, key="lang-key-1")
    assert (again.status, again.body["bookingId"], again.body["language"]) == (201, first.body["bookingId"], "ta")
    conflict = book(slots[0], tamil, key="lang-key-1", language="ta")  # the same key, another body
    assert (conflict.status, conflict.code) == (409, "IDEMPOTENCY_CONFLICT")
    given = book(slots[1], tamil, key="lang-key-2", language="en")
    repeated = book(slots[1], tamil, key="lang-key-2", language="en")
    assert (given.body["language"], repeated.body["bookingId"]) == ("en", given.body["bookingId"])


def test_the_events_carry_the_language_and_the_sms_is_written_in_it(allocator: Allocator, slots: list[Slot]) -> None:
    answer = book(slots[0], "walkin-hindi", language="hi")
    assert answer.status == 201, answer.body
    slot = allocator.get_slot(slots[0].slot_id)
    (created,) = [e for e in eventbridge.entries(slot, slot.outbox, 20) if e.detail_type == "BookingCreated"]
    detail = json.loads(created.detail)
    assert detail["booking"]["language"] == "hi"
    (sms,) = messages.texts(created.detail_type, detail, runtime.settings().clinic_zone)
    assert sms.phone == "+919800000042" and "टोकन 1" in sms.text and sms.text.startswith("OPD: Dr ")


def test_a_reschedule_keeps_the_language(slots: list[Slot]) -> None:
    made = book(slots[0], "walkin-tamil", language="ta")
    assert made.status == 201, made.body
    moved = call(
        "reschedule_booking",
        event(
            "reschedule_booking",
            path={"bookingId": made.body["bookingId"]},
            body={"slotId": slots[1].slot_id},
            role="reception",
            headers={"Idempotency-Key": None},
        ),
    )
    assert moved.status == 201, moved.body
    assert (moved.body["rescheduledFrom"], moved.body["language"]) == (made.body["bookingId"], "ta")
