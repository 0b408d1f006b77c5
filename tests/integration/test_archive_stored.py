"""Finished bookings leave their slot for the archive, on the real servers (nx-27017 and redis-server; a real
MongoDB when MONGODB_URI is set).

Red team, v2: after 150 cancelled waitlist entries a slot refused every booking with 409 SLOT_FULL while a
place was free.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from opd.domain import ARCHIVE_AT, MAX_REBOOKINGS, CancelReason, Capacity, Source, Status
from opd.errors import DuplicateBooking, InvalidTransition
from opd.service import Allocator
from opd.store import SlotStore


def test_a_slot_churned_by_1000_waitlist_joins_and_cancels_books_its_free_place(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(2, 0, 0))
    holders = [allocator.book(slot.slot_id, f"holder-{n}", Source.WALKIN) for n in range(2)]
    churned = []
    for n in range(1000):
        waiting = allocator.book(slot.slot_id, f"w-{n}", Source.ONLINE, waitlist=True)
        churned.append(allocator.cancel(waiting.booking_id, reason=CancelReason.PATIENT).booking_id)
    doc = slot_store.collection.find_one({"_id": slot.slot_id})
    assert doc is not None and len(doc["bookings"]) < 2 + 2 * ARCHIVE_AT
    archived = slot_store.archive.collection.count_documents({"slotId": slot.slot_id})
    assert archived > 1000 - 2 * ARCHIVE_AT

    allocator.cancel(holders[0].booking_id)
    booked = allocator.book(slot.slot_id, "latecomer", Source.WALKIN)
    assert (booked.status, booked.token) == (Status.BOOKED, 3)
    first = allocator.get_booking(churned[0])
    assert (first.status, first.cancel_reason, first.patient_id) == (Status.CANCELLED, CancelReason.PATIENT, "w-0")
    with pytest.raises(InvalidTransition):
        allocator.cancel(churned[0])


def test_the_archive_answers_the_rebook_rule_and_the_patients_list(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(2, 0, 0))
    asha = []
    for round_ in range(1 + MAX_REBOOKINGS):
        asha.append(allocator.cancel(allocator.book(slot.slot_id, "asha", Source.ONLINE).booking_id).booking_id)
        for n in range(ARCHIVE_AT):
            allocator.cancel(allocator.book(slot.slot_id, f"o-{round_}-{n}", Source.ONLINE).booking_id)
    assert slot_store.archive.of_patient(slot.slot_id, "asha") != []
    with pytest.raises(DuplicateBooking):
        allocator.book(slot.slot_id, "asha", Source.ONLINE)
    listed = allocator.patient_bookings("asha")
    assert [b.booking_id for b in listed.bookings] == asha and listed.next is None
    # From a cursor on an archived booking: the archive's query from a key on, on the server.
    page = slot_store.archive.patient_bookings("asha", soon - timedelta(days=1), soon + timedelta(days=1), 10, None)
    start = page[1][0]
    rest = slot_store.archive.patient_bookings(
        "asha", soon - timedelta(days=1), soon + timedelta(days=1), 10, (start, doctor_id, asha[1])
    )
    assert [b.booking_id for _, b in rest] == [b for b in asha[1:] if b in {x.booking_id for _, x in page}]
