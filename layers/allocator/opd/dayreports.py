"""MongoDB adapter of the daily reports (contract, "Reports"): `day_reports`, and the reads that make a day's row.

`day_reports` holds one document per doctor and clinic date, `_id` `<doctorId>|<date>`: the date (YYYY-MM-DD text, so
text order is date order), the doctor's id, name and department, and the figures as one array in the order of
FIGURES, the contract's names of them (dotted where nested: `waitMinutes.median`). It is written once by `insert` (a
second insert of the same day is a duplicate key: another run wrote it, and its figures are the same) and never
updated. A report is one range read on an index that also gives its order (date, then doctor id), and its rows are
the stored arrays given names: its cost follows the rows asked for, never the slots behind them.

Why an array and not the contract's nested object: a row is then ~350 bytes of BSON, not ~650, and a flat array is
what a server decodes fastest (nx-27017, the local MongoDB, read 4,600 nested rows in 520 ms and the same rows as
arrays in 200 ms; benchmarks/reports.py). FIGURES only grows at its end (a new figure, a new cancel reason or tier is
appended): a row written before has fewer figures, read as null.

Finding the days to report reads the slots through one more index, (end, doctorId, start): "which doctors had a slot
end between two instants" is a covered scan of its keys (no slot document is read), and a slot's `end` never changes,
so the index costs nothing on the slot's many writes after its insert. `day_sms` counts the SMS the notifier sent about
each doctor's day (one `$inc` per event), read when the day's row is made.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection as MongoCollection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from opd.domain import Booking, Slot
from opd.domain.daily import FIGURES, DayReport, DayRow, figures_of, report_id
from opd.mongo import DUPLICATE_KEY, Document, booking_from_doc, mongo_errors, utc
from opd.store import slot_from_doc

REPORTS = "day_reports"
SMS_COUNTS = "day_sms"
REPORT_ORDER = [("date", ASCENDING), ("doctorId", ASCENDING)]
# A report's rows in one reply: 92 days of 50 doctors is 4,600 rows of ~350 bytes.
ROWS_PER_REPLY = 10_000
ENDED_PER_REPLY = 10_000  # a day of 50 doctors' slots at their most (100 each) in half a reply
SLOTS_PER_REPLY = 1_000  # a batch of days' slots, whole (the server cuts a reply at 16 MB)


class DayReportStore:
    def __init__(self, database: Database[Document]) -> None:
        self.reports: MongoCollection[Document] = database[REPORTS]
        self.slots: MongoCollection[Document] = database["slots"]
        self.archive: MongoCollection[Document] = database["archived_bookings"]
        self.sms: MongoCollection[Document] = database[SMS_COUNTS]

    def ensure_indexes(self) -> None:
        with mongo_errors():
            # A report's range read, in its order, all doctors, one doctor or one department (doctorId repeats the
            # `_id`'s first part: nx-27017 refuses every insert once `_id` is in a compound index).
            self.reports.create_index(REPORT_ORDER)
            self.reports.create_index([("doctorId", ASCENDING), ("date", ASCENDING)])
            self.reports.create_index([("department", ASCENDING), ("date", ASCENDING), ("doctorId", ASCENDING)])
            # The sweeper's question, which doctors had a slot end since a given instant, answered from the keys.
            self.slots.create_index([("end", ASCENDING), ("doctorId", ASCENDING), ("start", ASCENDING)])
            # The first day whose SMS were counted (`first_counted_day`).
            self.sms.create_index([("date", ASCENDING)])

    # -- what the sweeper and the backfill read ---------------------------------------------------------------------

    def slots_ended(self, after: datetime, through: datetime) -> list[tuple[str, datetime]]:
        """(doctor id, start) of every slot whose end is in (after, through]: a covered scan of the (end, doctorId,
        start) index; no slot document is read."""
        query = {"end": {"$gt": utc(after), "$lte": utc(through)}}
        with mongo_errors():
            found = self.slots.find(query, {"_id": 0, "doctorId": 1, "start": 1}).batch_size(ENDED_PER_REPLY)
            return [(doc["doctorId"], utc(doc["start"])) for doc in found]

    def reported(self, ids: Collection[str]) -> set[str]:
        """Which of these day reports exist: one read of `_id`s."""
        if not ids:
            return set()
        with mongo_errors():
            return {doc["_id"] for doc in self.reports.find({"_id": {"$in": list(ids)}}, {"_id": 1})}

    def days_slots(self, days: Iterable[tuple[str, datetime, datetime]]) -> list[Slot]:
        """The slots of each (doctor id, day opens, day closes), those starting in [opens, closes), whole, in one round
        trip: one `$or` clause a day, each on the unique (doctorId, start) index."""
        clauses = [{"doctorId": d, "start": {"$gte": utc(opens), "$lt": utc(closes)}} for d, opens, closes in days]
        if not clauses:
            return []
        with mongo_errors():
            return [slot_from_doc(doc) for doc in self.slots.find({"$or": clauses}).batch_size(SLOTS_PER_REPLY)]

    def archived(self, slot_ids: Collection[str]) -> list[Booking]:
        """Every booking of these slots that went to the archive: one query on its (slotId, patientId) index."""
        if not slot_ids:
            return []
        with mongo_errors():
            found = self.archive.find({"slotId": {"$in": list(slot_ids)}})
            return [booking_from_doc(doc, doc["slotId"], doc["doctorId"]) for doc in found]

    def sms_sent(self, ids: Collection[str]) -> dict[str, int]:
        """The SMS counted for these days (report ids), those counted only: one read of `_id`s."""
        if not ids:
            return {}
        with mongo_errors():
            return {doc["_id"]: int(doc.get("sms", 0)) for doc in self.sms.find({"_id": {"$in": list(ids)}})}

    def first_counted_day(self) -> date | None:
        """The earliest day any SMS was counted for: from it on, a day without a count sent none."""
        with mongo_errors():
            found = self.sms.find_one({}, {"date": 1}, sort=[("date", ASCENDING)])
        return None if found is None else date.fromisoformat(found["date"])

    # -- the reports ---------------------------------------------------------------------------------------------

    def insert(self, reports: Sequence[DayReport], now: datetime) -> int:
        """Write the days' rows in one round trip; a day whose row is there already keeps it (its figures are final:
        another run wrote it). Answers how many this call wrote."""
        docs = [report_to_doc(report, now) for report in reports]
        if not docs:
            return 0
        with mongo_errors(write=True):
            try:
                self.reports.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(error.get("code") != DUPLICATE_KEY for error in errors):
                    raise
                return len(docs) - len(errors)
        return len(docs)

    def days(
        self, first: date, last: date, doctor_id: str | None = None, department: str | None = None
    ) -> list[DayRow]:
        """The rows of the dates first..last (both included), by date then doctor id, of one doctor or department if
        asked: one range read on the index that has the filter's field first, in one reply."""
        query: Document = {"date": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        if doctor_id is not None:
            query["doctorId"] = doctor_id
        if department is not None:
            query["department"] = department
        # Whole documents: their `_id` and `reportedAt` are ~70 bytes more a row, and nx-27017 answers a projection
        # half as fast again (it applies it document by document; benchmarks/reports.py).
        with mongo_errors():
            found = self.reports.find(query).sort(REPORT_ORDER).batch_size(ROWS_PER_REPLY)
            return [_row(doc) for doc in found]


def _row(doc: Document) -> DayRow:
    stored: list[Any] = doc.get("figures", [])
    missing = len(FIGURES) - len(stored)  # a row written before a figure was added: null
    figures = tuple(stored[: len(FIGURES)]) + (None,) * max(missing, 0)
    return DayRow(doc["date"], doc["doctorId"], doc["doctorName"], doc.get("department"), figures)


def report_to_doc(report: DayReport, now: datetime) -> Document:
    return {
        "_id": report.report_id,
        "date": report.day.isoformat(),
        "doctorId": report.doctor_id,
        "doctorName": report.doctor_name,
        "department": report.department,
        "figures": figures_of(report),
        "reportedAt": now.astimezone(UTC),
    }


class DaySmsCounter:
    """The notifier's side of `day_sms`: SMS sent about a doctor's clinic day, counted by one upsert per event."""

    def __init__(self, collection: MongoCollection[Document]) -> None:
        self.collection = collection

    def count(self, doctor_id: str, day: date, sent: int) -> None:
        key = {"_id": report_id(doctor_id, day)}
        update = {"$inc": {"sms": sent}, "$setOnInsert": {"date": day.isoformat(), "doctorId": doctor_id}}
        with mongo_errors(write=True):
            self.collection.update_one(key, update, upsert=True)
