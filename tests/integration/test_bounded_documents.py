"""A slot's stored document stays under 256 KiB whatever clients do (contract, "Capacity rules")."""

from __future__ import annotations

from datetime import datetime, timedelta

import bson
import pytest

from opd.api import idempotency
from opd.domain import ARCHIVE_AT, MAX_PLACES, Capacity, Source
from opd.errors import DependencyUnavailable, DuplicateBooking, SlotFull
from opd.service import Allocator
from opd.store import SlotStore

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("archive", ["up", "unreachable"])
def test_the_largest_slot_booked_and_cancelled_to_every_limit_stays_under_256_kib(
    allocator: Allocator, slot_store: SlotStore, soon: datetime, archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the archive up, finished bookings leave the slot and only the 3-rebook rule refuses; without it
    they stay, and the bound of 10 bookings a place (SLOT_FULL) keeps the document under 256 KiB."""
    if archive == "unreachable":

        def unreachable(*_: object) -> None:
            raise DependencyUnavailable("mongo", "MongoDB unreachable: the archive")

        monkeypatch.setattr(slot_store.archive, "add", unreachable)
    largest = Capacity(MAX_PLACES - 10, 5, 5)
    slot = allocator.create_slot("d" * 64, soon, soon + timedelta(hours=1), largest)
    # 64-character ids, the longest allowed; more patients than the slot's bound lets book 4 times
    patients = [f"{n:04d}".ljust(64, "p") for n in range(10 * MAX_PLACES // 4 + 5)]
    sources = list(Source)
    refusals = {"DUPLICATE_BOOKING": 0, "SLOT_FULL": 0}
    attempt = 0
    for _ in range(5):  # each patient books and cancels until refused: a 5th cycle is never allowed
        for patient in patients:
            attempt += 1
            body = {"slotId": slot.slot_id, "patientId": patient, "source": sources[attempt % 5].value}
            key = idempotency.request_key(caller="k" * 64, key=f"{'x' * 248}{archive[:2]}{attempt:05d}", body=body)
            try:
                booking = allocator.book(slot.slot_id, patient, sources[attempt % 5], key)
            except (DuplicateBooking, SlotFull) as refused:
                refusals[refused.code] += 1
                continue
            allocator.cancel(booking.booking_id)

    doc = slot_store.collection.find_one({"_id": slot.slot_id})
    assert doc is not None
    if archive == "up":
        assert len(doc["bookings"]) < 2 * ARCHIVE_AT  # what is left of ~1,000 bookings: the last few finished
        assert refusals["SLOT_FULL"] == 0 and refusals["DUPLICATE_BOOKING"] > 0
        archived = slot_store.archive.collection.count_documents({"slotId": slot.slot_id})
        assert archived > 4 * len(patients) - 2 * ARCHIVE_AT
    else:
        assert len(doc["bookings"]) == 10 * MAX_PLACES  # the bound was reached...
        assert refusals["SLOT_FULL"] > 0 and refusals["DUPLICATE_BOOKING"] > 0  # ...and both refusals met
    size = len(bson.encode(doc))
    assert size < 256 * 1024, f"{size} bytes"
    print(f"\n{len(doc['bookings'])} bookings, refusals {refusals}: the stored document is {size} bytes")
