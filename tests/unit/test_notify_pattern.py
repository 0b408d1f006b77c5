"""The notifier's EventBridge rule (template.yaml) gives it only the events that can send an SMS, as the local
bus (moto's EventBridge, whose pattern matching this reads) and AWS apply it. No sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from moto.events.models import EventPattern

from devserver import template as templates
from opd import domain, eventbridge
from opd.domain import CancelReason, Capacity, Source, Status

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)


def delivered(pattern: EventPattern, entry: eventbridge.Entry) -> bool:
    event = {"source": "opd", "detail-type": entry.detail_type, "detail": json.loads(entry.detail)}
    return pattern.matches_event(event)  # type: ignore[arg-type]  # moto's TypedDict of a whole event


def test_the_notifier_is_given_the_events_that_can_send_an_sms_and_no_others() -> None:
    template = templates.load_template(ROOT / "template.yaml")
    notifier = templates.function_named(template, "notify_sms", ROOT)
    pattern = EventPattern.load(json.dumps(templates.event_rule_pattern(template, notifier)))
    slot = domain.new_slot("slot-1", "dr-rao", NOW + timedelta(hours=1), NOW + timedelta(hours=2), Capacity(), NOW)
    before = slot
    slot, with_phone = domain.book(
        slot, "slot-1.a", "p1", Source.ONLINE, NOW, 20, domain.BookingOptions(phone="+919876543210")
    )
    slot, without = domain.book(slot, "slot-1.b", "p2", Source.WALKIN, NOW, 20)
    made = domain.with_events(before, slot, NOW)
    cancelled, _ = domain.transition(made, without, Status.CANCELLED, NOW, reason=CancelReason.PATIENT)
    delayed = domain.set_delay(cancelled, True, 20, NOW, 20)
    events = domain.with_events(made, delayed, NOW).outbox
    entries = {
        (e.detail_type, json.loads(e.detail).get("booking", {}).get("bookingId")): e
        for e in eventbridge.entries(delayed, events, 20)
    }
    assert delivered(pattern, entries[("BookingCreated", with_phone.booking_id)])
    assert not delivered(pattern, entries[("BookingCreated", without.booking_id)])  # no phone: nothing to send
    assert not delivered(pattern, entries[("BookingCancelled", without.booking_id)])
    assert delivered(pattern, entries[("SlotDelayChanged", None)])
