"""The event backlog: events the bus could not take, kept in a MongoDB collection of their own.

While EventBridge is away a busy slot keeps changing, and its events cannot all wait in the slot's
document (256 KiB). Past `domain.SPILL_AT` unpublished events, the request that wrote the slot moves
them here, rendered as the PutEvents entries they will be (a detail is the same whenever it is
rendered), one document per event keyed by its eventId: moving them twice keeps one. The relay
publishes the backlog, oldest first, and deletes what the bus took.
"""

from __future__ import annotations

from collections.abc import Collection as Ids
from collections.abc import Sequence
from datetime import UTC

from pymongo import ASCENDING
from pymongo.collection import Collection

from opd.eventbridge import Entry
from opd.mongo import Document, insert_new, mongo_errors

DUPLICATE_KEY = 11000


class EventBacklogStore:
    def __init__(self, collection: Collection[Document]) -> None:
        self.collection = collection

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.collection.create_index([("time", ASCENDING)])  # (time, _id) is refused by nx-27017

    def add(self, entries: Sequence[Entry]) -> None:
        """Keep the entries; one already kept (the same eventId) stays as it is."""
        if not entries:
            return
        docs = [
            {"_id": e.event_id, "detailType": e.detail_type, "detail": e.detail, "time": e.time.astimezone(UTC)}
            for e in entries
        ]
        insert_new(self.collection, docs)

    def oldest(self, limit: int) -> list[Entry]:
        """The `limit` oldest entries, by the time of their change."""
        with mongo_errors():
            found = self.collection.find().sort([("time", ASCENDING), ("_id", ASCENDING)]).limit(limit)
            return [Entry(d["_id"], d["detailType"], d["detail"], d["time"].astimezone(UTC)) for d in found]

    def remove(self, event_ids: Ids[str]) -> None:
        """Forget these entries: the bus took them."""
        if event_ids:
            with mongo_errors(write=True):
                self.collection.delete_many({"_id": {"$in": list(event_ids)}})
