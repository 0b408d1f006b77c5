"""MongoDB's side shared by the slot store and the archive: its errors as the service's, times in UTC, and a
booking's document form (a slot's `bookings` element, an archived booking's body)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from opd.domain import Booking, CancelReason, Change, Language, Source, Status
from opd.errors import DependencyUnavailable, WriteNotAcknowledged

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
        # Its kind and code only: the server's text may quote a document (a duplicate key's value, a bulk write's
        # op), and this message is logged and answered; patients' names and phones must be in neither.
        code = getattr(exc, "code", None)
        raise DependencyUnavailable(
            "mongo", f"MongoDB error: {type(exc).__name__}" + ("" if code is None else f" (code {code})")
        ) from exc


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def booking_to_doc(b: Booking) -> Document:
    doc: Document = {
        "bookingId": b.booking_id,
        "patientId": b.patient_id,
        "source": b.source.value,
        "token": b.token,
        "status": b.status.value,
        "createdAt": utc(b.created_at),
        "updatedAt": utc(b.updated_at),
        "history": [{"status": c.status.value, "at": utc(c.at), "by": c.by} for c in b.history],
        "calledAt": utc_or_none(b.called_at),
        "completedAt": utc_or_none(b.completed_at),
        "skips": b.skips,
        "queuePosition": b.queue_position,
        "cancelReason": b.cancel_reason.value if b.cancel_reason else None,
        "rescheduledFrom": b.rescheduled_from,
        "rescheduledTo": b.rescheduled_to,
    }
    if b.idempotency_key is not None:  # only keyed bookings carry them: slot documents stay small
        doc["idempotencyKey"] = b.idempotency_key
        doc["requestHash"] = b.request_hash
    if b.phone is not None:
        doc["phone"] = b.phone
    if b.status_code is not None:  # absent from bookings made before status links
        doc["statusCode"] = b.status_code
    if b.language is not None:  # absent from bookings made before languages: they read as None
        doc["language"] = b.language.value
    return doc


def booking_from_doc(b: Document, slot_id: str, doctor_id: str) -> Booking:
    return Booking(
        booking_id=b["bookingId"],
        slot_id=slot_id,
        doctor_id=doctor_id,
        patient_id=b["patientId"],
        source=Source(b["source"]),
        token=b["token"],
        status=Status(b["status"]),
        created_at=utc(b["createdAt"]),
        updated_at=utc(b["updatedAt"]),
        idempotency_key=b.get("idempotencyKey"),
        request_hash=b.get("requestHash"),
        history=tuple(Change(Status(c["status"]), utc(c["at"]), c["by"]) for c in b.get("history", ())),
        called_at=utc_or_none(b.get("calledAt")),
        completed_at=utc_or_none(b.get("completedAt")),
        skips=b.get("skips", 0),
        queue_position=b.get("queuePosition"),
        cancel_reason=CancelReason(b["cancelReason"]) if b.get("cancelReason") else None,
        rescheduled_from=b.get("rescheduledFrom"),
        rescheduled_to=b.get("rescheduledTo"),
        phone=b.get("phone"),
        status_code=b.get("statusCode"),
        language=_language(b.get("language")),
    )


def _language(code: Any) -> Language | None:
    """A stored booking's language: None where it has none (made before languages), or one no longer offered (a
    language taken out of `Language` must not make its slots unreadable: their SMS go in DEFAULT_LANGUAGE)."""
    return Language(code) if isinstance(code, str) and code in Language else None


def insert_new(collection: Collection[Document], docs: list[Document]) -> None:
    """Insert `docs` in one round trip, unordered: a document whose `_id` is there already is left as it is
    (what makes a second insert of the same ones harmless), and the others are inserted all the same. None: no
    round trip (pymongo refuses an empty insert)."""
    if not docs:
        return
    with mongo_errors(write=True):
        try:
            collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise
