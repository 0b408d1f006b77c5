"""MongoDB adapter: one document per slot, holding its capacity, delay, token counter and bookings.

Every change of a slot is one `replace_one` conditional on the version that was read, so a crash
can never leave a count that disagrees with the bookings, and a writer that lost the race (or
outlived its lock) changes nothing and decides again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from opd.domain import Booking, CancelReason, Capacity, Change, Slot, Source, Status
from opd.errors import DependencyUnavailable, SlotExists, WriteNotAcknowledged

Document = dict[str, Any]
DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index violation


@contextmanager
def mongo_errors(write: bool = False) -> Iterator[None]:
    """An unreachable MongoDB is a 503 for the caller, never a half-done change.

    A write that failed on the connection after it was sent may have been applied all the same:
    that is WriteNotAcknowledged, and the caller must find out before answering. A server that
    could not even be selected never got the write (pymongo raises the first error, not this one,
    when it was retrying a write it had sent).
    """
    try:
        yield
    except DuplicateKeyError:
        raise
    except ServerSelectionTimeoutError as exc:
        raise DependencyUnavailable("mongo", f"MongoDB unreachable: {type(exc).__name__}") from exc
    except ConnectionFailure as exc:  # AutoReconnect, NetworkTimeout: the connection broke mid-command
        kind = WriteNotAcknowledged if write else DependencyUnavailable
        raise kind("mongo", f"MongoDB unreachable: {type(exc).__name__}") from exc
    except PyMongoError as exc:
        raise DependencyUnavailable("mongo", f"MongoDB error: {exc}") from exc


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


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def booking_to_doc(b: Booking) -> Document:
    doc: Document = {
        "bookingId": b.booking_id,
        "patientId": b.patient_id,
        "source": b.source.value,
        "token": b.token,
        "status": b.status.value,
        "createdAt": _utc(b.created_at),
        "updatedAt": _utc(b.updated_at),
        "history": [{"status": c.status.value, "at": _utc(c.at), "by": c.by} for c in b.history],
        "calledAt": _utc_or_none(b.called_at),
        "completedAt": _utc_or_none(b.completed_at),
        "skips": b.skips,
        "queuePosition": b.queue_position,
        "cancelReason": b.cancel_reason.value if b.cancel_reason else None,
        "rescheduledFrom": b.rescheduled_from,
        "rescheduledTo": b.rescheduled_to,
    }
    if b.idempotency_key is not None:  # only keyed bookings carry them: slot documents stay small
        doc["idempotencyKey"] = b.idempotency_key
        doc["requestHash"] = b.request_hash
    return doc


def slot_to_doc(slot: Slot) -> Document:
    return {
        "_id": slot.slot_id,
        "doctorId": slot.doctor_id,
        "start": _utc(slot.start),
        "end": _utc(slot.end),
        "capacity": {
            "base": slot.capacity.base,
            "premiumBuffer": slot.capacity.premium_buffer,
            "emergencyBuffer": slot.capacity.emergency_buffer,
        },
        "delayed": slot.delayed,
        "delayMinutes": slot.delay_minutes,
        "closed": slot.closed,
        "nextToken": slot.next_token,
        "bookings": [booking_to_doc(b) for b in slot.bookings],
        # Derived in code on every write, so they always agree with the bookings beside them.
        "booked": slot.booked,
        "awaitingArrival": slot.awaiting_arrival,
        "movesPending": slot.moves_pending,
        "version": slot.version,
    }


def slot_from_doc(doc: Document) -> Slot:
    slot_id, doctor_id = doc["_id"], doc["doctorId"]
    return Slot(
        slot_id=slot_id,
        doctor_id=doctor_id,
        start=_utc(doc["start"]),
        end=_utc(doc["end"]),
        capacity=Capacity(
            base=doc["capacity"]["base"],
            premium_buffer=doc["capacity"]["premiumBuffer"],
            emergency_buffer=doc["capacity"]["emergencyBuffer"],
        ),
        delayed=doc["delayed"],
        delay_minutes=doc["delayMinutes"],
        closed=doc.get("closed", False),
        next_token=doc["nextToken"],
        bookings=tuple(
            Booking(
                booking_id=b["bookingId"],
                slot_id=slot_id,
                doctor_id=doctor_id,
                patient_id=b["patientId"],
                source=Source(b["source"]),
                token=b["token"],
                status=Status(b["status"]),
                created_at=_utc(b["createdAt"]),
                updated_at=_utc(b["updatedAt"]),
                idempotency_key=b.get("idempotencyKey"),
                request_hash=b.get("requestHash"),
                history=tuple(Change(Status(c["status"]), _utc(c["at"]), c["by"]) for c in b.get("history", ())),
                called_at=_utc_or_none(b.get("calledAt")),
                completed_at=_utc_or_none(b.get("completedAt")),
                skips=b.get("skips", 0),
                queue_position=b.get("queuePosition"),
                cancel_reason=CancelReason(b["cancelReason"]) if b.get("cancelReason") else None,
                rescheduled_from=b.get("rescheduledFrom"),
                rescheduled_to=b.get("rescheduledTo"),
            )
            for b in doc["bookings"]
        ),
        version=doc["version"],
    )


class SlotStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            # One slot per doctor and start instant (starts are stored in UTC, so offsets don't matter).
            self.collection.create_index([("doctorId", ASCENDING), ("start", ASCENDING)], unique=True)
            # The sweeper's queries: slots still holding BOOKED or WAITLISTED bookings, oldest start
            # first; and slots with a reschedule under way, which a request may have left unfinished.
            self.collection.create_index([("awaitingArrival", ASCENDING), ("start", ASCENDING)])
            self.collection.create_index([("movesPending", ASCENDING)])
            # A patient's bookings: the slots holding one of theirs, by start (see patient_slots). Multikey:
            # one key per distinct patientId in a slot's bookings, so a slot is indexed under each of its patients.
            self.collection.create_index([("bookings.patientId", ASCENDING), ("start", ASCENDING)])

    def ping(self) -> None:
        with mongo_errors():
            self.collection.database.command("ping")

    def insert(self, slot: Slot) -> None:
        try:
            with mongo_errors():
                self.collection.insert_one(slot_to_doc(slot))
        except DuplicateKeyError as exc:
            raise SlotExists(
                f"doctor {slot.doctor_id} already has a slot starting {_utc(slot.start).isoformat()}"
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
        starts = [_utc(slots[error["index"]].start) for error in errors]
        query = {"doctorId": slots[0].doctor_id, "start": {"$in": starts}}
        with mongo_errors():
            found = self.collection.find(query, {"_id": 1, "start": 1}).batch_size(len(starts))  # one reply
            return {_utc(doc["start"]): doc["_id"] for doc in found}

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
        query = {"doctorId": doctor_id, "start": {"$gte": _utc(start_from), "$lt": _utc(start_before)}}
        with mongo_errors():
            return [slot_from_doc(d) for d in self.collection.find(query).sort("start", ASCENDING)]

    def patient_slots(self, patient_id: str, start_from: datetime, start_before: datetime, limit: int) -> list[Slot]:
        """The slots holding a booking of the patient (in any state), starting in [start_from, start_before), by
        start, at most `limit` of them: one query on the index of ensure_indexes.

        `$elemMatch` with the one condition is, on an array of subdocuments, the same match as
        `{"bookings.patientId": p}`: MongoDB plans both on the multikey index (bookings.patientId, start) with the
        bounds [p, p] and [start_from, start_before) (`start` is no array, so its bounds join the first's), and
        the index gives the order by start, so nothing is sorted in memory and `limit` stops the scan. It is the
        form written here because nx-27017, the local MongoDB, answers the dotted equality alone with nothing
        once a single-field index on `bookings.patientId` exists (measured; with this compound index it answered
        right), while it answers `$elemMatch` right with either index or none.
        """
        query = {
            "bookings": {"$elemMatch": {"patientId": patient_id}},
            "start": {"$gte": _utc(start_from), "$lt": _utc(start_before)},
        }
        with mongo_errors():
            found = self.collection.find(query).sort("start", ASCENDING).limit(limit)
            return [slot_from_doc(d) for d in found]

    def slots_awaiting_sweep(self, started_by: datetime, batch_size: int = 100) -> Iterator[str]:
        """Ids of slots that started by `started_by` and still hold BOOKED bookings, fetched in batches."""
        query = {"awaitingArrival": True, "start": {"$lte": _utc(started_by)}}
        with mongo_errors():
            cursor = self.collection.find(query, {"_id": 1}).sort("start", ASCENDING).batch_size(batch_size)
            for doc in cursor:
                yield doc["_id"]
