"""A patient's slots on a real server: the query with its index in place, as ensure_indexes leaves it.

nx-27017 (the local MongoDB) once answered an equality on an indexed array field with nothing; the
store's `$elemMatch` form is checked here against the index the store itself creates, so a query
that stops finding anything shows up red. Every test passes on a real MongoDB too (MONGODB_URI).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opd.domain import Capacity, Source
from opd.service import Allocator
from opd.store import SlotStore

PATIENT_INDEX = [("bookings.patientId", 1), ("start", 1), ("doctorId", 1)]


def test_ensure_indexes_makes_the_patient_index(slot_store: SlotStore) -> None:
    keys = [list(index["key"]) for index in slot_store.collection.index_information().values()]
    assert PATIENT_INDEX in [[(field, int(direction)) for field, direction in key] for key in keys]


def test_a_patients_slots_are_found_with_the_index_in_place_half_open_by_start(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    hour = timedelta(hours=1)
    made = {
        n: allocator.create_slot(doctor_id, soon + n * hour, soon + n * hour + hour, Capacity(1, 0, 0))
        for n in (2, 4, 0, 3, 1)
    }
    slots = [made[n] for n in range(5)]  # stored out of start order: the order is the query's
    for n in (3, 0, 1, 4):  # booked out of order; the listing is by start
        allocator.book(slots[n].slot_id, "pat-indexed", Source.ONLINE)
    allocator.book(slots[2].slot_id, "pat-other", Source.WALKIN)
    # Every state counts: cancelled, waitlisted (slot 0 is full), and a booking added to a slot later.
    allocator.cancel(allocator.get_slot(slots[1].slot_id).bookings[0].booking_id)
    allocator.book(slots[0].slot_id, "pat-waiting", Source.ONLINE, waitlist=True)
    allocator.book(slots[2].slot_id, "pat-waiting", Source.ONLINE, waitlist=True)

    found = slot_store.patient_slots("pat-indexed", soon, soon + 4 * hour, 500)
    assert [s.slot_id for s in found] == [slots[n].slot_id for n in (0, 1, 3)]  # slot 4 starts at the end: out
    assert [s.slot_id for s in slot_store.patient_slots("pat-waiting", soon, soon + 5 * hour, 500)] == [
        slots[0].slot_id,
        slots[2].slot_id,
    ]
    assert [s.slot_id for s in slot_store.patient_slots("pat-indexed", soon, soon + 5 * hour, 2)] == [
        slots[0].slot_id,
        slots[1].slot_id,
    ]
    assert slot_store.patient_slots("pat-nobody", soon, soon + 5 * hour, 500) == []
    assert found[0] == allocator.get_slot(slots[0].slot_id)  # whole slots, as stored


def test_a_patients_slots_from_a_slot_on_by_start_then_doctor(
    allocator: Allocator, slot_store: SlotStore, doctor_id: str, soon: datetime
) -> None:
    """`from_slot`: that slot and those after it in (start, doctorId) order, with several starting together."""
    hour = timedelta(hours=1)
    made = {}
    for n, doctor in [(1, "c"), (0, "b"), (1, "a"), (2, "a"), (1, "b"), (0, "a")]:  # stored out of order
        start = soon + n * hour
        made[(n, doctor)] = allocator.create_slot(f"{doctor_id}-{doctor}", start, start + hour, Capacity(2, 0, 0))
        allocator.book(made[(n, doctor)].slot_id, "pat-paged", Source.ONLINE)
    allocator.book(made[(1, "a")].slot_id, "pat-other", Source.WALKIN)  # its slot stays one of pat-paged's

    def listed(from_slot: tuple[datetime, str] | None, limit: int = 10) -> list[tuple[int, str]]:
        found = slot_store.patient_slots("pat-paged", soon, soon + 3 * hour, limit, from_slot)
        return [(int((s.start - soon) / hour), s.doctor_id.removeprefix(f"{doctor_id}-")) for s in found]

    assert listed(None) == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (1, "c"), (2, "a")]
    assert listed((soon + hour, f"{doctor_id}-b")) == [(1, "b"), (1, "c"), (2, "a")]
    assert listed((soon + hour, f"{doctor_id}-b"), limit=2) == [(1, "b"), (1, "c")]
    assert listed((soon + hour, f"{doctor_id}-bb")) == [(1, "c"), (2, "a")]  # between two doctors' slots
    assert listed((soon - hour, "")) == listed(None)  # before the range: from its start
    assert listed((soon + 3 * hour, "")) == []


def test_a_patients_bookings_through_the_service(allocator: Allocator, doctor_id: str, soon: datetime) -> None:
    first = allocator.create_slot(doctor_id, soon, soon + timedelta(hours=1))
    second = allocator.create_slot(doctor_id, soon + timedelta(days=3), soon + timedelta(days=3, hours=1))
    theirs = [allocator.book(s.slot_id, "pat-service", Source.ONLINE) for s in (second, first)]
    page = allocator.patient_bookings("pat-service")
    listed = page.bookings
    assert page.next is None
    assert [b.booking_id for b in listed] == [theirs[1].booking_id, theirs[0].booking_id]
    assert all(b.standing is not None and b.standing.position == 0 for b in listed)
