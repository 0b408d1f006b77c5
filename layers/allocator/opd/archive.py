"""MongoDB adapter: the archive of finished bookings that left their slot's document (`domain.archive`).

One document per booking, `_id` its booking id, beside its slot's id, doctor and start: what
`GET /bookings/{id}`, a patient's list and the 3-rebook rule read once the slot no longer holds it.
A booking is archived before the slot's write that drops it, so it is never in neither place; if
that write loses its race, it is in both for a while, the same final booking twice, and readers
take it once. Adding is idempotent: a booking already archived is left as it is (it is final).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING
from pymongo.collection import Collection

from opd.domain import Booking, Slot
from opd.mongo import Document, booking_from_doc, booking_to_doc, insert_new, mongo_errors, utc

# Where a page of a patient's list starts: (slot start, doctor id, booking id), that booking included.
ListingKey = tuple[datetime, str, str]


class BookingArchiveStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            # The 3-rebook rule: a patient's archived bookings in one slot.
            self.collection.create_index([("slotId", ASCENDING), ("patientId", ASCENDING)])
            # A patient's list, in its order (bookingId repeats _id: nx-27017 refuses `_id` in a compound index).
            self.collection.create_index(
                [("patientId", ASCENDING), ("start", ASCENDING), ("doctorId", ASCENDING), ("bookingId", ASCENDING)]
            )
            # A status link's lookup, for a booking that left its slot (with_status_code).
            self.collection.create_index([("statusCode", ASCENDING)])

    def add(self, slot: Slot, bookings: Sequence[Booking]) -> None:
        """Archive `bookings` of `slot` in one round trip; those archived already stay as they are."""
        where = {"slotId": slot.slot_id, "doctorId": slot.doctor_id, "start": utc(slot.start)}
        insert_new(self.collection, [{**booking_to_doc(b), "_id": b.booking_id, **where} for b in bookings])

    def get(self, booking_id: str) -> Booking | None:
        with mongo_errors():
            doc = self.collection.find_one({"_id": booking_id})
        return _booking(doc) if doc else None

    def with_status_code(self, code: str) -> Booking | None:
        """The archived booking whose status code is `code`: one query on the index (statusCode). Written with `$eq`:
        nx-27017 reads `{field: value}` as "the value, or an array holding it" and scans for it."""
        with mongo_errors():
            doc = self.collection.find_one({"statusCode": {"$eq": code}})
        return _booking(doc) if doc else None

    def of_patient(self, slot_id: str, patient_id: str) -> list[Booking]:
        """The patient's archived bookings of one slot (at most 4: the 3-rebook rule)."""
        with mongo_errors():
            return [_booking(d) for d in self.collection.find({"slotId": slot_id, "patientId": patient_id})]

    def patient_bookings(
        self, patient_id: str, start_from: datetime, start_before: datetime, limit: int, from_key: ListingKey | None
    ) -> list[tuple[datetime, Booking]]:
        """The patient's archived bookings in slots starting in [start_from, start_before), with their slot's start,
        in the listing's order (start, doctor id, booking id), from `from_key` on (included): at most `limit`."""
        query: Document = {"patientId": patient_id, "start": {"$gte": utc(start_from), "$lt": utc(start_before)}}
        if from_key is not None:
            start, doctor_id, booking_id = utc(from_key[0]), from_key[1], from_key[2]
            # In `$and`: nx-27017, the local MongoDB, answers a `$or` beside top-level conditions on the same
            # fields as if the `$or` stood alone (measured); both forms are the same query to MongoDB.
            after = [
                {"start": {"$gt": start}},
                {"start": start, "doctorId": {"$gt": doctor_id}},
                {"start": start, "doctorId": doctor_id, "bookingId": {"$gte": booking_id}},
            ]
            query = {"$and": [query, {"$or": after}]}
        order = [("start", ASCENDING), ("doctorId", ASCENDING), ("bookingId", ASCENDING)]
        with mongo_errors():
            found = self.collection.find(query).sort(order).limit(limit)
            return [(utc(d["start"]), _booking(d)) for d in found]


def _booking(doc: Document) -> Booking:
    return booking_from_doc(doc, doc["slotId"], doc["doctorId"])
