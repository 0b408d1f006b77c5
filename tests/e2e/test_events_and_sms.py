"""Events and SMS through the whole local stack: the functions publish to moto's EventBridge, the
notifier is delivered the bus's events from a queue, SNS (moto) sends the SMS; the relay runs on a
short schedule beside the traffic, as it does every minute in AWS."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests

from devserver.runner import LocalStack, start_stack
from tests.e2e.support import Api, eventually

pytestmark = [pytest.mark.xdist_group("e2e-events"), pytest.mark.slow]

BOOKINGS = 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database = f"opd_e2e_{uuid.uuid4().hex[:12]}"
    data_dir = tmp_path_factory.mktemp("stack")
    # The relay every second: it runs beside the requests, as the minute's schedule does in AWS.
    with start_stack(
        port=0, data_dir=data_dir, auth=True, database=database, concurrency=4, relay_every_s=1.0
    ) as started:
        yield started


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Api:
    return Api(stack.url)


def events_of(api: Api, slot_id: str) -> list[dict[str, Any]]:
    answer = api.call("GET", f"/_local/events?slotId={slot_id}")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["events"]
    return found


def sms(api: Api) -> list[dict[str, Any]]:
    answer = api.call("GET", "/_local/sms")
    assert answer.status_code == 200, answer.text
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


def phone_of(n: int) -> str:
    return f"+9198{n:08d}"


def test_a_burst_of_200_bookings_publishes_200_booking_created_none_lost_none_texted_twice(api: Api) -> None:
    slots = [api.new_slot(starts_in=timedelta(hours=3, minutes=30 * i), baseCapacity=30, premiumBuffer=0,
                          emergencyBuffer=0)["slotId"] for i in range(7)]  # fmt: skip
    texted_before = len(sms(api))
    api.token("reception")  # fetched once, shared by the threads (each with a session of its own)

    def book(n: int) -> requests.Response:
        body = {"slotId": slots[n % 7], "patientId": f"burst-{n}", "source": "WALKIN", "phone": phone_of(n)}
        for _ in range(20):  # a 429 is asked again after its Retry-After, as a client would
            answer = Api(api.url, tokens=api.tokens).as_role("reception", "POST", "/bookings", body)
            if answer.status_code != 429:
                return answer
            time.sleep(float(answer.headers.get("retry-after", "1")))
        return answer

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(book, range(BOOKINGS)))
    assert Counter(a.status_code for a in answers) == {201: BOOKINGS}
    booked = {a.json()["bookingId"] for a in answers}

    def created() -> list[dict[str, Any]]:
        return [e for slot in slots for e in events_of(api, slot) if e["detail-type"] == "BookingCreated"]

    seen = eventually(created, lambda found: {e["detail"]["booking"]["bookingId"] for e in found} >= booked)
    ids = Counter(e["detail"]["eventId"] for e in seen)
    assert {e["detail"]["booking"]["bookingId"] for e in seen} == booked  # none lost
    assert len(ids) == BOOKINGS  # one event each (a relay running beside may deliver one twice: same eventId)
    assert all(e["source"] == "opd" for e in seen)

    texts = eventually(lambda: sms(api)[texted_before:], lambda got: len(got) >= BOOKINGS)
    time.sleep(2)  # a relay or a redelivery still in flight would text again now
    texts = sms(api)[texted_before:]
    assert len(texts) == BOOKINGS  # none doubled
    assert Counter((m["eventId"], m["phone"]) for m in texts).most_common(1)[0][1] == 1
    assert {m["eventId"] for m in texts} == set(ids)
    assert {m["phone"] for m in texts} == {phone_of(n) for n in range(BOOKINGS)}


def test_an_event_delivered_again_sends_no_second_sms(api: Api, stack: LocalStack) -> None:
    made = api.new_slot()
    slot = made["slotId"]
    doctor = {"name": "Dr Meena Iyer", "department": "ENT", "room": "OPD-2"}
    assert api.as_role("admin", "PUT", f"/doctors/{made['doctorId']}", doctor).status_code == 200
    answer = api.as_role(
        "reception",
        "POST",
        "/bookings",
        {"slotId": slot, "patientId": "twice", "source": "ONLINE", "phone": "+919999000001"},
    )
    assert answer.status_code == 201, answer.text
    created = eventually(lambda: [e for e in events_of(api, slot) if e["detail-type"] == "BookingCreated"], bool)
    # At least once: the scheduled relay running beside the request may have put the same event on the bus too.
    (event,) = {e["detail"]["eventId"]: e for e in created}.values()
    mine = eventually(lambda: [m for m in sms(api) if m["phone"] == "+919999000001"], bool)
    assert len(mine) == 1 and mine[0]["eventId"] == event["detail"]["eventId"]
    assert "token 1" in mine[0]["text"] and "with Dr Meena Iyer on" in mine[0]["text"]  # the directory's name
    # It ends with the booking's status link on the runner's own URL (PUBLIC_URL), which answers without a token.
    code = answer.json()["statusCode"]
    assert mine[0]["text"].endswith(f" {stack.url}/status.html#{code}"), mine[0]["text"]
    status = api.call("GET", f"/status/{code}")
    assert status.status_code == 200, status.text
    assert (status.json()["token"], status.json()["doctorName"], status.json()["room"]) == (1, "Dr Meena Iyer", "OPD-2")
    for _ in range(3):  # EventBridge delivering the same event again, three times
        stack.bus.client("sqs").send_message(QueueUrl=stack.bus.queue, MessageBody=json.dumps(event))
    time.sleep(3)
    assert [m for m in sms(api) if m["phone"] == "+919999000001"] == mine


def test_the_events_of_a_slot_oldest_first_with_the_contracts_detail(api: Api) -> None:
    slot = api.new_slot()["slotId"]
    booked = api.as_role("reception", "POST", "/bookings", {"slotId": slot, "patientId": "e1", "source": "PAID"})
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["bookingId"]
    assert api.as_role("reception", "POST", f"/bookings/{booking_id}/check-in").status_code == 200
    assert api.as_role("admin", "PUT", f"/slots/{slot}/delay", {"delayed": True, "minutes": 20}).status_code == 200
    assert api.as_role("reception", "POST", f"/bookings/{booking_id}/complete").status_code == 200
    delivered = eventually(lambda: events_of(api, slot), lambda got: len({e["detail"]["eventId"] for e in got}) >= 5)
    # At least once: the scheduled relay may publish an event again (racing the request that published it
    # first); a consumer keeps one per eventId, and a copy is the same event to the letter.
    first: dict[str, Any] = {}
    for event in delivered:
        assert first.setdefault(event["detail"]["eventId"], event)["detail"] == event["detail"]
    found = list(first.values())
    assert [e["detail-type"] for e in found] == [
        "SlotCreated", "BookingCreated", "BookingCheckedIn", "SlotDelayChanged", "BookingCompleted"
    ]  # fmt: skip
    assert [e["detail"]["slotVersion"] for e in found] == [0, 1, 2, 3, 4]
    detail = found[2]["detail"]
    assert set(detail) == {"eventId", "occurredAt", "slotId", "slotVersion", "booking", "slot"}
    assert detail["booking"]["status"] == "CHECKED_IN" and detail["slot"]["booked"] == 1
    assert found[3]["detail"]["slot"]["limits"]["STANDARD"] == 8
    assert api.call("GET", "/_local/events?slotId=slot-nowhere").json() == {"events": []}
    relayed = api.call("POST", "/_local/relay")
    assert relayed.status_code == 200 and relayed.json()["pending"] == 0


def test_sms_are_written_in_each_bookings_language(api: Api, stack: LocalStack) -> None:
    """Contract, "Languages": a booking asked for in Hindi is texted in Devanagari, a patient registered in Tamil is
    texted in Tamil without asking, and a delay tells each of them in theirs, each SMS ending with its link."""
    made = api.new_slot()
    slot = made["slotId"]
    doctor = {"name": "Dr Meena Iyer", "department": "ENT"}
    assert api.as_role("admin", "PUT", f"/doctors/{made['doctorId']}", doctor).status_code == 200
    patient = api.as_role("reception", "POST", "/patients", {"name": "கவிதா சுப்பிரமணியன்", "language": "ta"})
    assert patient.status_code == 201, patient.text
    hindi_phone, tamil_phone = "+919999000021", "+919999000022"
    hindi = api.as_role("reception", "POST", "/bookings",
                        {"slotId": slot, "patientId": "walkin-hi", "source": "WALKIN", "phone": hindi_phone,
                         "language": "hi"})  # fmt: skip
    tamil = api.as_role("reception", "POST", "/bookings",
                        {"slotId": slot, "patientId": patient.json()["patientId"], "source": "WALKIN",
                         "phone": tamil_phone})  # fmt: skip
    assert (hindi.status_code, tamil.status_code) == (201, 201), (hindi.text, tamil.text)
    assert (hindi.json()["language"], tamil.json()["language"]) == ("hi", "ta")
    assert api.as_role("admin", "PUT", f"/slots/{slot}/delay", {"delayed": True, "minutes": 20}).status_code == 200

    def texts_to(phone: str) -> list[str]:
        return [m["text"] for m in sms(api) if m["phone"] == phone]

    def booked_then_delayed(phone: str, late: str) -> list[str]:
        got = eventually(lambda: texts_to(phone), lambda got: len(got) >= 2)
        assert len(got) == 2, got
        return sorted(got, key=lambda text: late in text)  # the delay's SMS may overtake the booking's

    booked_hi, delayed_hi = booked_then_delayed(hindi_phone, "देर से")
    booked_ta, delayed_ta = booked_then_delayed(tamil_phone, "தாமதம்")
    assert booked_hi.startswith("OPD: Dr Meena Iyer, ") and "को टोकन 1।" in booked_hi, booked_hi
    assert "20 मिनट देर से" in delayed_hi and "टोकन 1" in delayed_hi, delayed_hi
    assert booked_ta.startswith("OPD: Dr Meena Iyer, ") and "டோக்கன் 2." in booked_ta, booked_ta
    assert "20 நிமிடம் தாமதம்" in delayed_ta and "டோக்கன் 2" in delayed_ta, delayed_ta
    codes = {hindi_phone: hindi.json()["statusCode"], tamil_phone: tamil.json()["statusCode"]}
    for phone, text in [(hindi_phone, booked_hi), (hindi_phone, delayed_hi), (tamil_phone, booked_ta),
                        (tamil_phone, delayed_ta)]:  # fmt: skip
        assert text.endswith(f" {stack.url}/status.html#{codes[phone]}"), text
