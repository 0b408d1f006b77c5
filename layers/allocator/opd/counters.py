"""MongoDB adapter of the registration counters: `counters` (one record per counter), `counter_days` (one document
per counter and clinic date, holding its tokens) and `counter_shares` (one per counter and ABHA address shared).

A day: `{_id: "<counterId>|<YYYY-MM-DD>", counterId, date, lastNumber, version, closed, tokens: {"<n>": token}}`.
A number comes from ONE atomic step, a `find_one_and_update` with `$inc` on `lastNumber`, conditional on the day
not being full and an upsert for its first token: however many ask at once, each gets the next number (measured
sound on nx-27017 too). The token is then written under its number with `$set` of `tokens.<n>`, which no other
token's write touches. A request that dies between the two leaves its number unused: never given again (a gap
in the day's numbers, never a repeat). Every other change (call next, the sweeper's expiry) reads the day and
writes every token it changes in ONE `update_one` fenced by `version`, which each write raises.

A token is `$set` whole (`tokens.<n>`: a subdocument), never field by field: nx-27017 writes a datetime given
alone to `$set` as text (measured), as it does not one inside a subdocument. A time read back as text is read as
UTC all the same (`_time`). Shares are likewise inserted or replaced whole, fenced by their own `version`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from opd.domain.counters import MAX_TOKENS_PER_DAY, Counter, CounterShare, CounterToken, TokenSource, TokenStatus
from opd.errors import SlotBusy
from opd.mongo import Document, mongo_errors, utc, utc_or_none

DAYS = "counter_days"
SHARES = "counter_shares"
SWEEP_INDEX = [("closed", ASCENDING), ("date", ASCENDING)]  # the sweeper's days still open, before today
DUE_INDEX = [("callbackDue", ASCENDING), ("sharedAt", ASCENDING)]  # on-shares still owed, oldest first
# A first number raced another's upsert (MongoDB then refuses one with a duplicate key): read, and ask again.
NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class CounterDay:
    """A counter's day as read: its tokens, and the version its next change is fenced by."""

    tokens: tuple[CounterToken, ...]
    version: int


class CounterStore:
    def __init__(
        self,
        counters: Collection[Document],
        days: Collection[Document] | None = None,
        shares: Collection[Document] | None = None,
    ) -> None:
        self.counters = counters
        self.days = counters.database[DAYS] if days is None else days
        self.shares = counters.database[SHARES] if shares is None else shares

    def ensure_indexes(self) -> None:
        with mongo_errors():
            self.days.create_index(SWEEP_INDEX)
            self.shares.create_index(DUE_INDEX)

    # -- counters ---------------------------------------------------------------------------------------

    def record(self, counter: Counter) -> None:
        """Create or replace the counter's record."""
        with mongo_errors(write=True):
            # `_id` in the replacement too: nx-27017 takes an upsert's `_id` from it, not from the filter (measured).
            self.counters.replace_one(
                {"_id": counter.counter_id},
                {"_id": counter.counter_id, "name": counter.name, "prefix": counter.prefix},
                upsert=True,
            )

    def get(self, counter_id: str) -> Counter | None:
        with mongo_errors():
            found = self.counters.find_one({"_id": counter_id})
        return None if found is None else Counter(found["_id"], found["name"], found["prefix"])

    # -- a counter's day ------------------------------------------------------------------------------------

    def next_number(self, counter_id: str, day: date) -> int | None:
        """The day's next number, taken in one atomic step; None when the day has given MAX_TOKENS_PER_DAY."""
        key = day_id(counter_id, day)
        for _ in range(NUMBER_ATTEMPTS):
            try:
                with mongo_errors(write=True):
                    taken = self.days.find_one_and_update(
                        {"_id": key, "lastNumber": {"$lt": MAX_TOKENS_PER_DAY}},
                        {"$inc": {"lastNumber": 1}},
                        projection={"lastNumber": 1},
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    )
            except DuplicateKeyError:  # MongoDB: the day is full, or its first number raced another's upsert
                taken = None
            if taken is not None:
                return int(taken["lastNumber"])
            # nx-27017 answers None where MongoDB raises: either way the day says which it was.
            with mongo_errors():
                found = self.days.find_one({"_id": key}, {"lastNumber": 1})
            if found is not None and found.get("lastNumber", 0) >= MAX_TOKENS_PER_DAY:
                return None
        # Never seen: each day has one first upsert to race. Transient all the same (429, Retry-After).
        raise SlotBusy(f"counter {counter_id} is busy giving numbers, try again", retry_after_seconds=1)

    def write_token(self, token: CounterToken) -> None:
        """Write a newly numbered token under its number (no other write touches that key). The day is open
        again (`closed: false`): a token written after the sweeper closed its day is expired by its next run."""
        with mongo_errors(write=True):
            self.days.update_one(
                {"_id": day_id(token.counter_id, token.day)},
                {
                    "$set": {
                        f"tokens.{token.number}": token_to_doc(token),
                        "counterId": token.counter_id,
                        "date": token.day.isoformat(),
                        "closed": False,
                    },
                    "$inc": {"version": 1},
                },
            )

    def day(self, counter_id: str, day: date) -> CounterDay | None:
        with mongo_errors():
            found = self.days.find_one({"_id": day_id(counter_id, day)}, {"tokens": 1, "version": 1})
        if found is None:
            return None
        tokens = tuple(token_from_doc(doc, counter_id, day) for doc in (found.get("tokens") or {}).values())
        return CounterDay(tokens, int(found.get("version", 0)))

    def write_changes(
        self, counter_id: str, day: date, read_version: int, tokens: Iterable[CounterToken], close: bool = False
    ) -> bool:
        """Write these tokens of the day (and `closed: true` if `close`) if it is still at `read_version`; False,
        nothing written, when another write came first: read it again and decide again."""
        changes: Document = {f"tokens.{token.number}": token_to_doc(token) for token in tokens}
        if close:
            changes["closed"] = True
        with mongo_errors(write=True):
            done = self.days.update_one(
                {"_id": day_id(counter_id, day), "version": read_version}, {"$set": changes, "$inc": {"version": 1}}
            )
        return done.matched_count == 1

    def open_days_before(self, day: date, limit: int) -> list[tuple[str, date]]:
        """Days not yet closed of dates before `day`, oldest first: (counter id, date)."""
        with mongo_errors():
            found = self.days.find(
                {"closed": False, "date": {"$lt": day.isoformat()}}, {"counterId": 1, "date": 1}
            ).sort(SWEEP_INDEX)
            return [(doc["counterId"], date.fromisoformat(doc["date"])) for doc in found.limit(limit)]

    # -- ABDM shares ---------------------------------------------------------------------------------------

    def share(self, counter_id: str, abha_address: str) -> CounterShare | None:
        with mongo_errors():
            found = self.shares.find_one({"_id": share_id(counter_id, abha_address)})
        return None if found is None else share_from_doc(found)

    def claim_share(self, share: CounterShare) -> bool:
        """Insert a first claim; False, nothing written, when the address has a share at the counter already."""
        try:
            with mongo_errors(write=True):
                self.shares.insert_one(share_to_doc(share))
        except DuplicateKeyError:
            return False
        return True

    def replace_share(self, share: CounterShare, read_version: int) -> bool:
        """Replace the share read at `read_version` by `share`; False, nothing written, when it changed since."""
        key = share_id(share.counter_id, share.abha_address)
        with mongo_errors(write=True):
            done = self.shares.replace_one({"_id": key, "version": read_version}, share_to_doc(share))
        return done.matched_count == 1

    def drop_share(self, share: CounterShare) -> None:
        """Let go of a claim that got no number (its day was full), if it is still as written."""
        with mongo_errors(write=True):
            self.shares.delete_one({"_id": share_id(share.counter_id, share.abha_address), "version": share.version})

    def shares_due(self, older_than: datetime, newer_than: datetime, limit: int) -> list[tuple[str, str]]:
        """(counter id, ABHA address) of numbered shares whose on-share is still owed, shared between `newer_than`
        and `older_than`."""
        with mongo_errors():
            found = self.shares.find(
                {"callbackDue": True, "sharedAt": {"$lt": utc(older_than), "$gte": utc(newer_than)}},
                {"counterId": 1, "abhaAddress": 1, "number": 1},
            ).sort(DUE_INDEX)
            return [(doc["counterId"], doc["abhaAddress"]) for doc in found.limit(limit) if doc.get("number")]


def day_id(counter_id: str, day: date) -> str:
    return f"{counter_id}|{day.isoformat()}"


def share_id(counter_id: str, abha_address: str) -> str:
    return f"{counter_id}|{abha_address}"


def _time(value: Any) -> datetime:
    """A stored time: a datetime, or the text nx-27017 makes of one `$set` alone (UTC, no offset written)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else utc(value)
    return utc(value)


def _time_or_none(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def token_to_doc(token: CounterToken) -> Document:
    doc: Document = {
        "number": token.number,
        "label": token.label,
        "status": token.status.value,
        "source": token.source.value,
        "patientId": token.patient_id,
        "createdAt": utc(token.created_at),
        "calledAt": utc_or_none(token.called_at),
        "servedAt": utc_or_none(token.served_at),
        "expiresAt": utc(token.expires_at),
    }
    if token.abha_address is not None:
        doc["abhaAddress"] = token.abha_address
    return doc


def token_from_doc(doc: Document, counter_id: str, day: date) -> CounterToken:
    return CounterToken(
        counter_id=counter_id,
        day=day,
        number=int(doc["number"]),
        label=doc["label"],
        status=TokenStatus(doc["status"]),
        source=TokenSource(doc["source"]),
        patient_id=doc.get("patientId"),
        created_at=_time(doc["createdAt"]),
        expires_at=_time(doc["expiresAt"]),
        called_at=_time_or_none(doc.get("calledAt")),
        served_at=_time_or_none(doc.get("servedAt")),
        abha_address=doc.get("abhaAddress"),
    )


def share_to_doc(share: CounterShare) -> Document:
    return {
        "_id": share_id(share.counter_id, share.abha_address),
        "counterId": share.counter_id,
        "abhaAddress": share.abha_address,
        "patientId": share.patient_id,
        "date": share.day.isoformat(),
        "number": share.number,
        "label": share.label,
        "claimedAt": utc(share.claimed_at),
        "expiresAt": utc(share.expires_at),
        "sharedAt": utc(share.shared_at),
        "onShare": {"requestId": share.request_id, "sentAt": utc_or_none(share.sent_at), "expiry": share.expiry_s},
        "callbackDue": share.sent_at is None,  # top level, for the index the sweeper's re-send reads
        "version": share.version,
    }


def share_from_doc(doc: Document) -> CounterShare:
    on_share = doc["onShare"]
    return CounterShare(
        counter_id=doc["counterId"],
        abha_address=doc["abhaAddress"],
        patient_id=doc["patientId"],
        day=date.fromisoformat(doc["date"]),
        claimed_at=_time(doc["claimedAt"]),
        expires_at=_time(doc["expiresAt"]),
        request_id=on_share["requestId"],
        shared_at=_time(doc["sharedAt"]),
        expiry_s=int(on_share["expiry"]),
        version=int(doc["version"]),
        number=doc.get("number"),
        label=doc.get("label"),
        sent_at=_time_or_none(on_share.get("sentAt")),
    )
