"""A status link's lookup on a real server (nx-27017; a real MongoDB when MONGODB_URI is set): a code found in its
slot's document with the store's own indexes in place, in the archive once its booking left the slot, followed
through a reschedule; and a booking stored before status links read back without one.

nx-27017 answers an equality on an indexed array field (`{"bookings.statusCode": c}`) with nothing: the store's
`$elemMatch` form is checked here against the index the store itself creates, so a query that stops finding
anything shows up red.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from opd.contract import BookingOut
from opd.domain import ARCHIVE_AT, Capacity, Source, Status
from opd.errors import NotFound
from opd.service import Allocator
from opd.store import SlotStore


def index_keys(collection: Any) -> list[list[tuple[str, int]]]:
    return [[(field, int(way)) for field, way in index["key"]] for index in collection.index_information().values()]


def plan_details(explained: dict[str, Any]) -> str:
    """The winning plan as text: nx-27017's SQLite plan lines, or MongoDB's stages (IXSCAN with its index name)."""
    return repr(explained.get("queryPlanner", {}).get("winningPlan"))


def test_ensure_indexes_makes_the_status_code_indexes(slot_store: SlotStore) -> None:
    assert [("bookings.statusCode", 1)] in index_keys(slot_store.collection)
    assert [("statusCode", 1)] in index_keys(slot_store.archive.collection)


def test_a_code_finds_its_slot_among_others_with_the_index_in_place(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    hour = timedelta(hours=1)
    slots = [allocator.create_slot(doctor_id, soon + n * hour, soon + (n + 1) * hour) for n in range(4)]
    made = {(n, p): allocator.book(slots[n].slot_id, f"p-{n}-{p}", Source.WALKIN) for n in range(4) for p in range(3)}
    for (n, _), booking in made.items():
        assert booking.status_code is not None
        found = slot_store.slot_with_status_code(booking.status_code)
        assert found is not None and found.slot_id == slots[n].slot_id
        assert found == allocator.get_slot(slots[n].slot_id)  # the whole slot, as stored
    assert slot_store.slot_with_status_code("A" * 16) is None
    codes = [b.status_code for b in made.values()]
    assert len(set(codes)) == len(codes)
    stored = slot_store.collection.find_one({"_id": slots[0].slot_id})
    assert stored is not None and [b["statusCode"] for b in stored["bookings"]] == codes[:3]


def test_an_archived_bookings_code_is_found_in_the_archive_by_its_index(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1), Capacity(2, 0, 0))
    gone = [
        allocator.cancel(allocator.book(slot.slot_id, f"p-{n}", Source.ONLINE).booking_id) for n in range(ARCHIVE_AT)
    ]
    kept = allocator.book(slot.slot_id, "p-kept", Source.WALKIN)  # a write after the 10th: they leave the slot
    stored = allocator.get_slot(slot.slot_id)
    assert [b.booking_id for b in stored.bookings] == [kept.booking_id]
    code = str(gone[3].status_code)
    assert slot_store.slot_with_status_code(code) is None  # no longer in the slot's document
    archived = slot_store.archive.with_status_code(code)
    assert archived is not None and archived.booking_id == gone[3].booking_id and archived.status_code == code
    assert slot_store.archive.with_status_code("A" * 16) is None
    status = allocator.booking_status(code)
    assert (status.status, status.token, status.position, status.start) == (Status.CANCELLED, 4, None, slot.start)
    explained = slot_store.archive.collection.find({"statusCode": {"$eq": code}}).explain()
    plan = plan_details(explained)
    assert "statusCode" in plan and ("USING INDEX" in plan or "IXSCAN" in plan), plan


def test_a_rescheduled_code_is_followed_to_the_new_booking(
    allocator: Allocator, doctor_id: str, soon: datetime
) -> None:
    first = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    second = allocator.create_slot(doctor_id, soon + timedelta(hours=2), soon + timedelta(hours=3))
    old = allocator.book(first.slot_id, "p-moving", Source.ONLINE)
    new = allocator.reschedule(old.booking_id, second.slot_id)
    by_old = allocator.booking_status(str(old.status_code))
    assert by_old == allocator.booking_status(str(new.status_code))
    assert (by_old.status, by_old.start, by_old.token) == (Status.BOOKED, second.start, 1)
    with pytest.raises(NotFound):
        allocator.booking_status("B" * 16)


def test_a_booking_stored_before_status_links_reads_back_without_a_code(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    slot = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    booking = allocator.book(slot.slot_id, "p-old", Source.WALKIN)
    doc = slot_store.collection.find_one({"_id": slot.slot_id})
    assert doc is not None
    del doc["bookings"][0]["statusCode"]
    slot_store.collection.replace_one({"_id": slot.slot_id}, doc)  # the whole document, as the store writes it
    stored = slot_store.collection.find_one({"_id": slot.slot_id})
    assert stored is not None and "statusCode" not in stored["bookings"][0]  # as a v2 booking was written
    old = allocator.get_booking(booking.booking_id)
    assert old.status_code is None and BookingOut.of(old).as_json()["statusCode"] is None
    allocator.check_in(booking.booking_id)  # written again as it is: still without one
    again = slot_store.collection.find_one({"_id": slot.slot_id})
    assert again is not None and "statusCode" not in again["bookings"][0]
    assert slot_store.slot_with_status_code(str(booking.status_code)) is None
