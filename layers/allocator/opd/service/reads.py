"""Reading slots and bookings: one query each, no lock, nothing written.

Functions over the slot repository (and the settings and clock they need, passed in), shared by
the write path, the rescheduler and the `Allocator`'s own reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time

from opd import domain
from opd.domain import Booking, Slot
from opd.errors import NotFound, ValidationFailed
from opd.ports import SlotRepository
from opd.settings import Settings

log = logging.getLogger(__name__)

# A patient's bookings (GET /patients/{id}/bookings): from `from` to `to`, both clinic days included.
BOOKINGS_DEFAULT_DAYS = 30  # `to` left out: this many days after `from` (itself today when left out)
BOOKINGS_MAX_DAYS = 92  # `to` at most this many days after `from`
# Slots one listing reads at most, earliest first. A patient is in a handful of slots in 92 days; the cap
# bounds what one request can cost, e.g. for a shared placeholder id that a desk books every walk-in under.
BOOKINGS_MAX_SLOTS = 500


def get_slot(store: SlotRepository, slot_id: str) -> Slot:
    slot = store.get(slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    return slot


def find_booking(store: SlotRepository, booking_id: str) -> tuple[Slot, Booking]:
    """The booking and its slot, read by the slot id its booking id names: one read by primary key."""
    slot_id = domain.slot_id_of_booking(booking_id)
    slot = store.get(slot_id) if slot_id else None
    booking = slot.booking(booking_id) if slot else None
    if slot is None or booking is None:
        raise NotFound(f"no booking {booking_id}")
    return slot, booking


def doctor_slots(store: SlotRepository, settings: Settings, doctor_id: str, day: date) -> list[Slot]:
    """The doctor's slots starting on `day` in the clinic's time zone, by start."""
    domain.require_id("doctorId", doctor_id)
    midnight = datetime.combine(day, clock_time(), tzinfo=settings.clinic_zone)
    next_midnight = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=settings.clinic_zone)
    return store.doctor_slots(doctor_id, midnight, next_midnight)


def patient_bookings(
    store: SlotRepository,
    settings: Settings,
    clock: Callable[[], datetime],
    patient_id: str,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[Booking]:
    """The patient's bookings, in every state, in the slots starting from `first_day` to `last_day` (clinic
    days, both included; default today and 30 days on), by slot start, each answered with its standing.

    One indexed query (SlotStore.patient_slots), at most BOOKINGS_MAX_SLOTS slots, and no lock.
    """
    domain.require_id("patientId", patient_id)
    zone = settings.clinic_zone
    now = clock()
    first = first_day or now.astimezone(zone).date()
    last = last_day or first + timedelta(days=BOOKINGS_DEFAULT_DAYS)
    if last < first:
        raise ValidationFailed.field("to", f"must not be before from ({first})")
    if (last - first).days > BOOKINGS_MAX_DAYS:
        raise ValidationFailed.field("to", f"must be at most {BOOKINGS_MAX_DAYS} days after from ({first})")
    opens = datetime.combine(first, clock_time(), tzinfo=zone)
    closes = datetime.combine(last + timedelta(days=1), clock_time(), tzinfo=zone)
    slots = store.patient_slots(patient_id, opens, closes, BOOKINGS_MAX_SLOTS)
    if len(slots) == BOOKINGS_MAX_SLOTS:
        log.warning(
            "a patient's bookings from %s to %s: listed from their first %d slots only", first, last, len(slots)
        )
    return [
        booking
        for slot in slots
        for booking in domain.answered_all(slot, [b for b in slot.bookings if b.patient_id == patient_id], now)
    ]
