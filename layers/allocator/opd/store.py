"""MongoDB adapter: one document per slot, holding its capacity, delay, token counter and bookings.

Every change of a slot is one `replace_one` conditional on the version that was read, so a crash
can never leave a count that disagrees with the bookings, and a writer that lost the race (or
outlived its lock) changes nothing and decides again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from opd.archive import BookingArchiveStore
from opd.domain import (
    BookingSnapshot,
    Capacity,
    Event,
    EventType,
    RefusedReschedule,
    Relayed,
    Slot,
    SlotSnapshot,
)
from opd.errors import SlotExists
from opd.mongo import (
    DUPLICATE_KEY,
    Document,
    booking_from_doc,
    booking_to_doc,
    mongo_errors,
    utc,
    utc_or_none,
)

# A session's days (at most 93) of at most 100 slots each (domain.MAX_SLOTS_PER_DAY) in one reply.
STARTS_PER_REPLY = 10_000


def connect(uri: str, timeout_ms: int = 2000, **options: Any) -> MongoClient[Document]:
    """One client per execution environment; short timeouts so a dead store fails fast."""
    return MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * 2,
        appname="opd-token-service",
        **options,
    )


# -- the outbox, kept compact: a slot holds fewer than SPILL_AT + MAX_EVENTS_PER_CHANGE events -----
# An event is its detail-type, version and time; a booking event names its booking by its index in
# `bookings` (which only grows) with the snapshot's numbers; a slot event has the slot's changing
# numbers, and a delay's recipients as a bit set over the bookings' indexes. Its seq is its place
# among the events of its version, kept by the array's order.


def event_to_doc(event: Event, index_of: dict[str, int]) -> Document:
    doc: Document = {"t": event.detail_type.value, "v": event.slot_version, "at": utc(event.occurred_at)}
    if event.booking_id is not None and event.booking is not None:
        snap = event.booking
        doc["i"] = index_of[event.booking_id]
        doc["h"] = snap.history_length
        if snap.position is not None:
            doc["p"] = snap.position
        if snap.estimated_call_at is not None:
            doc["e"] = utc(snap.estimated_call_at)
        if snap.waitlist_position is not None:
            doc["w"] = snap.waitlist_position
    state = event.slot
    doc["s"] = _pack(state)
    if state.recipients:
        doc["r"] = format(sum(1 << index_of[b] for b in state.recipients), "x")
    return doc


# A slot snapshot's five numbers in one int32 (7 bytes of BSON, not 37 as an array): delayed (1 bit),
# closed (1), delay minutes (11: at most 1440), places held (9: at most 30), waitlisted (9: at most 100).
_FIELDS = ((1, "delayed"), (1, "closed"), (11, "delay_minutes"), (9, "booked"), (9, "waitlisted"))


def _pack(state: SlotSnapshot) -> int:
    packed, shift = 0, 0
    for bits, name in _FIELDS:
        packed |= int(getattr(state, name)) << shift
        shift += bits
    return packed


def _unpack(packed: int, recipients: tuple[str, ...]) -> SlotSnapshot:
    values: dict[str, int] = {}
    shift = 0
    for bits, name in _FIELDS:
        values[name] = packed >> shift & ((1 << bits) - 1)
        shift += bits
    return SlotSnapshot(
        delayed=bool(values["delayed"]),
        delay_minutes=values["delay_minutes"],
        closed=bool(values["closed"]),
        booked=values["booked"],
        waitlisted=values["waitlisted"],
        recipients=recipients,
    )


def event_from_doc(doc: Document, slot_id: str, seq: int, booking_ids: list[str]) -> Event:
    booking = None
    if "i" in doc:
        e = doc.get("e")
        booking = BookingSnapshot(doc["h"], doc.get("p"), utc(e) if e is not None else None, doc.get("w"))
    bits = int(doc.get("r", "0"), 16)
    slot = _unpack(doc["s"], tuple(b for index, b in enumerate(booking_ids) if bits >> index & 1))
    return Event(
        detail_type=EventType(doc["t"]),
        occurred_at=utc(doc["at"]),
        slot_id=slot_id,
        slot_version=doc["v"],
        seq=seq,
        booking_id=booking_ids[doc["i"]] if "i" in doc else None,
        booking=booking,
        slot=slot,
    )


def outbox_to_docs(slot: Slot, outbox: tuple[Event, ...]) -> list[Document]:
    index_of = {b.booking_id: index for index, b in enumerate(slot.bookings)}
    return [event_to_doc(event, index_of) for event in outbox]


def outbox_from_docs(docs: list[Document], slot_id: str, booking_ids: list[str]) -> tuple[Event, ...]:
    events = []
    seq, version = 0, None
    for doc in docs:
        seq = seq + 1 if doc["v"] == version else 0
        version = doc["v"]
        events.append(event_from_doc(doc, slot_id, seq, booking_ids))
    return tuple(events)


def slot_to_doc(slot: Slot) -> Document:
    return {
        "_id": slot.slot_id,
        "doctorId": slot.doctor_id,
        "start": utc(slot.start),
        "end": utc(slot.end),
        "capacity": {
            "base": slot.capacity.base,
            "premiumBuffer": slot.capacity.premium_buffer,
            "emergencyBuffer": slot.capacity.emergency_buffer,
        },
        "delayed": slot.delayed,
        "delayMinutes": slot.delay_minutes,
        "closed": slot.closed,
        "waitlistEndsAt": utc_or_none(slot.waitlist_ends_at),
        "nextToken": slot.next_token,
        "bookings": [booking_to_doc(b) for b in slot.bookings],
        "archivedPatients": slot.archived_patients,
        "refusedMoves": [
            {"bookingId": r.booking_id, "code": r.code, "at": utc(r.at)} for r in slot.refused_reschedules
        ],
        # Derived in code on every write, so they always agree with the bookings beside them.
        "booked": slot.booked,
        "awaitingArrival": slot.awaiting_arrival,
        "movesPending": slot.reschedules_pending,  # stored names as first written: documents and indexes keep them
        "outbox": outbox_to_docs(slot, slot.outbox),
        "outboxPending": bool(slot.outbox),  # the relay's index: a top-level flag, not the array
        "version": slot.version,
    }


def slot_from_doc(doc: Document) -> Slot:
    slot_id, doctor_id = doc["_id"], doc["doctorId"]
    return Slot(
        slot_id=slot_id,
        doctor_id=doctor_id,
        start=utc(doc["start"]),
        end=utc(doc["end"]),
        capacity=Capacity(
            base=doc["capacity"]["base"],
            premium_buffer=doc["capacity"]["premiumBuffer"],
            emergency_buffer=doc["capacity"]["emergencyBuffer"],
        ),
        delayed=doc["delayed"],
        delay_minutes=doc["delayMinutes"],
        closed=doc.get("closed", False),
        waitlist_ends_at=utc_or_none(doc.get("waitlistEndsAt")),
        next_token=doc["nextToken"],
        bookings=tuple(booking_from_doc(b, slot_id, doctor_id) for b in doc["bookings"]),
        refused_reschedules=tuple(
            RefusedReschedule(r["bookingId"], r["code"], utc(r["at"])) for r in doc.get("refusedMoves", ())
        ),
        archived_patients=doc.get("archivedPatients", ""),
        version=doc["version"],
        outbox=outbox_from_docs(doc.get("outbox", []), slot_id, [b["bookingId"] for b in doc["bookings"]]),
    )


class SlotStore:
    def __init__(self, collection: Collection[Document], archive: BookingArchiveStore | None = None) -> None:
        self.collection = collection
        # Finished bookings that left their slot (`domain.archive`), beside the slots in their database.
        self.archive = archive or BookingArchiveStore(collection.database["archived_bookings"])

    def ensure_indexes(self) -> None:
        with mongo_errors():
            # One slot per doctor and start instant (starts are stored in UTC, so offsets don't matter).
            self.collection.create_index([("doctorId", ASCENDING), ("start", ASCENDING)], unique=True)
            # The sweeper's queries: slots still holding BOOKED or WAITLISTED bookings, oldest start
            # first; and slots with a reschedule under way, which a request may have left unfinished.
            self.collection.create_index([("awaitingArrival", ASCENDING), ("start", ASCENDING)])
            self.collection.create_index([("movesPending", ASCENDING)])
            # A patient's bookings: the slots holding one of theirs, by start and doctor (see patient_slots).
            # Multikey: one key per distinct patientId in a slot's bookings, so a slot is indexed under each of
            # its patients. doctorId, unique with start, orders slots that start together (not _id: nx-27017
            # refuses every insert once `_id` is in a compound index).
            self.collection.create_index(
                [("bookings.patientId", ASCENDING), ("start", ASCENDING), ("doctorId", ASCENDING)]
            )
            # The event relay's query: slots whose outbox holds events. An index on the boolean, not
            # on the array (nx-27017 answers nothing to equality on an indexed array field).
            self.collection.create_index([("outboxPending", ASCENDING)])
            # A status link's lookup (slot_with_status_code): multikey, one key per booking's code. Queried with
            # `$elemMatch` only: nx-27017 answers the dotted equality with nothing once this index exists.
            self.collection.create_index([("bookings.statusCode", ASCENDING)])
        self.archive.ensure_indexes()

    def ping(self) -> None:
        with mongo_errors():
            self.collection.database.command("ping")

    def insert(self, slot: Slot) -> None:
        try:
            with mongo_errors():
                self.collection.insert_one(slot_to_doc(slot))
        except DuplicateKeyError as exc:
            raise SlotExists(
                f"doctor {slot.doctor_id} already has a slot starting {utc(slot.start).isoformat()}"
            ) from exc

    def insert_all(self, slots: list[Slot]) -> dict[datetime, str]:
        """Add one doctor's slots in one round trip (plus one read when some exist); those whose start
        instant the doctor has already are left as they are. Returns those that existed: start → id."""
        if not slots:
            return {}
        errors: list[dict[str, Any]] = []
        with mongo_errors():
            try:
                self.collection.insert_many([slot_to_doc(slot) for slot in slots], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(error.get("code") != DUPLICATE_KEY for error in errors):
                    raise
        if not errors:
            return {}
        starts = [utc(slots[error["index"]].start) for error in errors]
        query = {"doctorId": slots[0].doctor_id, "start": {"$in": starts}}
        with mongo_errors():
            found = self.collection.find(query, {"_id": 1, "start": 1}).batch_size(len(starts))  # one reply
            return {utc(doc["start"]): doc["_id"] for doc in found}

    def get(self, slot_id: str) -> Slot | None:
        with mongo_errors():
            doc = self.collection.find_one({"_id": slot_id})
        return slot_from_doc(doc) if doc else None

    def replace(self, slot: Slot, read_version: int) -> bool:
        """Write the whole slot if nobody wrote it since `read_version`; False means decide again."""
        doc = slot_to_doc(slot)
        doc["version"] = read_version + 1
        with mongo_errors(write=True):
            result = self.collection.replace_one({"_id": slot.slot_id, "version": read_version}, doc)
        return result.matched_count == 1

    def doctor_slots(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[Slot]:
        query = {"doctorId": doctor_id, "start": {"$gte": utc(start_from), "$lt": utc(start_before)}}
        with mongo_errors():
            return [slot_from_doc(d) for d in self.collection.find(query).sort("start", ASCENDING)]

    def slot_starts(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[datetime]:
        """The start instants of the doctor's slots in [start_from, start_before): one query on the unique index
        (doctorId, start), which holds all it answers (nothing else of a slot is read), normally in one reply."""
        query = {"doctorId": doctor_id, "start": {"$gte": utc(start_from), "$lt": utc(start_before)}}
        with mongo_errors():
            found = self.collection.find(query, {"_id": 0, "start": 1}).batch_size(STARTS_PER_REPLY)
            return [utc(doc["start"]) for doc in found]

    def patient_slots(
        self,
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_slot: tuple[datetime, str] | None = None,
    ) -> list[Slot]:
        """The slots holding a booking of the patient (in any state), starting in [start_from, start_before), by
        (start, doctorId), at most `limit` of them; with `from_slot` (a start and a doctor id) only that slot and
        those after it in that order: one query on the index of ensure_indexes.

        `$elemMatch` with the one condition is, on an array of subdocuments, the same match as
        `{"bookings.patientId": p}`: MongoDB plans both on the multikey index (bookings.patientId, start, doctorId)
        with the bounds [p, p] and [start_from, start_before) (`start` is no array, so its bounds join the first's),
        and the index gives the order by (start, doctorId), so nothing is sorted in memory and `limit` stops the
        scan. `from_slot` raises the start bound to its start, and the `$or` leaves out the slots of that start
        whose doctor comes before (a doctor has one slot per start: the unique index). It is the form written
        here because nx-27017, the local MongoDB, answers the dotted equality alone with nothing once a
        single-field index on `bookings.patientId` exists (measured; with the compound index it answered right),
        while it answers `$elemMatch` right with either index or none.
        """
        lowest = utc(start_from)
        query: Document = {"bookings": {"$elemMatch": {"patientId": patient_id}}}
        if from_slot is not None:
            start, doctor_id = utc(from_slot[0]), from_slot[1]
            lowest = max(lowest, start)
            query["$or"] = [{"start": {"$gt": start}}, {"doctorId": {"$gte": doctor_id}}]
        query["start"] = {"$gte": lowest, "$lt": utc(start_before)}
        with mongo_errors():
            found = self.collection.find(query).sort([("start", ASCENDING), ("doctorId", ASCENDING)]).limit(limit)
            return [slot_from_doc(d) for d in found]

    def slot_with_status_code(self, code: str) -> Slot | None:
        """The slot holding the booking whose status code is `code`: one query on the index (bookings.statusCode).

        `$elemMatch` with the one condition is, on an array of subdocuments, the same match as
        `{"bookings.statusCode": code}`, and MongoDB plans it on the multikey index; it is the form written here
        because nx-27017 answers the dotted equality with nothing once the index exists (see patient_slots).
        """
        with mongo_errors():
            doc = self.collection.find_one({"bookings": {"$elemMatch": {"statusCode": code}}})
        return slot_from_doc(doc) if doc else None

    def slots_awaiting_sweep(self, started_by: datetime, batch_size: int = 100) -> Iterator[str]:
        """Ids of slots that started by `started_by` and still hold BOOKED bookings, fetched in batches."""
        query = {"awaitingArrival": True, "start": {"$lte": utc(started_by)}}
        with mongo_errors():
            cursor = self.collection.find(query, {"_id": 1}).sort("start", ASCENDING).batch_size(batch_size)
            for doc in cursor:
                yield doc["_id"]

    def slots_with_reschedules(self, batch_size: int = 100) -> Iterator[str]:
        """Ids of slots holding a booking that is being rescheduled (`movesPending`, indexed), fetched in batches."""
        with mongo_errors():
            cursor = self.collection.find({"movesPending": True}, {"_id": 1}).batch_size(batch_size)
            for doc in cursor:
                yield doc["_id"]

    def slots_with_events(self, batch_size: int = 100) -> Iterator[Slot]:
        """The slots whose outbox holds events, whole (the relay renders their events), `batch_size` a reply."""
        with mongo_errors():
            for doc in self.collection.find({"outboxPending": True}).batch_size(batch_size):
                yield slot_from_doc(doc)

    def prune_outbox(self, slot: Slot, relayed: Relayed) -> bool:
        """Drop the events `relayed` says are published if the slot is still at its version, which
        stays: what a writer decides on is unchanged, and one who read this version writes back only
        what it read, less what it knows is published, plus its own events."""
        kept = tuple(relayed.unpublished(slot.outbox))
        update = {"$set": {"outbox": outbox_to_docs(slot, kept), "outboxPending": bool(kept)}}
        with mongo_errors(write=True):
            result = self.collection.update_one({"_id": slot.slot_id, "version": slot.version}, update)
        return result.matched_count == 1
