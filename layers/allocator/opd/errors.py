"""Domain errors, each with the contract's code, and ERRORS: the one table of their statuses."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

# In an error's details: the request may have changed something already, and its repeat finishes it.
OUTCOME_UNKNOWN = "UNKNOWN"


class OpdError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(OpdError):
    code = "VALIDATION_ERROR"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class Unauthorized(OpdError):
    code = "UNAUTHORIZED"


class InvalidCode(OpdError):
    """A sign-in code that is wrong, expired, already used, or asked for too many tries; the message never says
    which (nor the code, nor the phone)."""

    code = "INVALID_CODE"


class Forbidden(OpdError):
    code = "FORBIDDEN"


class NotFound(OpdError):
    code = "NOT_FOUND"


class SlotFull(OpdError):
    code = "SLOT_FULL"


class WaitlistFull(OpdError):
    code = "WAITLIST_FULL"


class DuplicateBooking(OpdError):
    code = "DUPLICATE_BOOKING"


class InvalidTransition(OpdError):
    code = "INVALID_TRANSITION"


class SlotExists(OpdError):
    code = "SLOT_EXISTS"


class SlotClosed(OpdError):
    code = "SLOT_CLOSED"


class DayFull(OpdError):
    """The doctor would have more than 100 slots on a clinic date; `details` names each such date."""

    code = "DAY_FULL"


class PatientExists(OpdError):
    """Another patient of the register holds this ABHA address; `details` names them (`patientId`)."""

    code = "PATIENT_EXISTS"


class IdempotencyConflict(OpdError):
    code = "IDEMPOTENCY_CONFLICT"


class SlotBusy(OpdError):
    """The slot's lock could not be had in the bounded wait; the caller should retry later."""

    code = "SLOT_BUSY"

    def __init__(self, message: str, retry_after_seconds: int = 1, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details)
        self.retry_after_seconds = retry_after_seconds


class TooManyCodes(OpdError):
    """The phone asked for more sign-in codes than the window allows; `retry_after_seconds`: until one more may be."""

    code = "TOO_MANY_CODES"

    def __init__(self, message: str, retry_after_seconds: int, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details)
        self.retry_after_seconds = retry_after_seconds


# Refusals that say when to come back (a `Retry-After` header, in seconds).
RETRY_LATER: tuple[type[SlotBusy | TooManyCodes], ...] = (SlotBusy, TooManyCodes)


class DependencyUnavailable(OpdError):
    """Redis or MongoDB cannot be reached; nothing was written (else it is OutcomeUnknown). Sign-in by phone's too:
    Cognito cannot be reached, or its Create trigger could not send the code (`dependency` "cognito", "sms")."""

    code = "DEPENDENCY_UNAVAILABLE"

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(message, [{"dependency": dependency}])
        self.dependency = dependency


class WriteNotAcknowledged(DependencyUnavailable):
    """A write was sent and its reply never came: MongoDB may have applied it."""


class OutcomeUnknown(DependencyUnavailable):
    """A dependency went away when the request may already have changed something: MongoDB with a
    write in flight, or Redis or MongoDB between a reschedule's writes (the first one made).

    The one answer that cannot say "nothing was written": `details` says so (`"outcome": "UNKNOWN"`,
    beside the dependency and whatever else the request knows, e.g. `rescheduledTo`), and the message
    tells the client to repeat the same request, which finishes it or returns what was made.
    """

    def __init__(self, dependency: str, message: str, known: dict[str, Any] | None = None) -> None:
        super().__init__(dependency, message)
        self.details = [{"dependency": dependency, "outcome": OUTCOME_UNKNOWN, **(known or {})}]


@dataclass(frozen=True)
class ErrorKind:
    status: HTTPStatus
    # Worth a retry (with the same Idempotency-Key), so never remembered as a key's answer. Every
    # other refusal is final for the request that got it, and a key may remember it.
    transient: bool = False


# The one table: each error once, with the contract's status and whether it is final or transient.
ERRORS: dict[type[OpdError], ErrorKind] = {
    ValidationFailed: ErrorKind(HTTPStatus.BAD_REQUEST),
    Unauthorized: ErrorKind(HTTPStatus.UNAUTHORIZED),
    InvalidCode: ErrorKind(HTTPStatus.UNAUTHORIZED),
    Forbidden: ErrorKind(HTTPStatus.FORBIDDEN),
    NotFound: ErrorKind(HTTPStatus.NOT_FOUND),
    SlotFull: ErrorKind(HTTPStatus.CONFLICT),
    WaitlistFull: ErrorKind(HTTPStatus.CONFLICT),
    DuplicateBooking: ErrorKind(HTTPStatus.CONFLICT),
    InvalidTransition: ErrorKind(HTTPStatus.CONFLICT),
    SlotExists: ErrorKind(HTTPStatus.CONFLICT),
    IdempotencyConflict: ErrorKind(HTTPStatus.CONFLICT),
    SlotClosed: ErrorKind(HTTPStatus.CONFLICT),
    DayFull: ErrorKind(HTTPStatus.CONFLICT),
    PatientExists: ErrorKind(HTTPStatus.CONFLICT),
    SlotBusy: ErrorKind(HTTPStatus.TOO_MANY_REQUESTS, transient=True),
    TooManyCodes: ErrorKind(HTTPStatus.TOO_MANY_REQUESTS, transient=True),
    DependencyUnavailable: ErrorKind(HTTPStatus.SERVICE_UNAVAILABLE, transient=True),
    OpdError: ErrorKind(HTTPStatus.INTERNAL_SERVER_ERROR),  # INTERNAL_ERROR: a bug, never worth a retry
}
_FINAL_OF_CODE = {error.code: error for error, kind in ERRORS.items() if not kind.transient}


def refusal(code: str, message: str, details: list[dict[str, Any]]) -> OpdError:
    """The final refusal with this contract code, raised again as it was first answered."""
    return _FINAL_OF_CODE.get(code, OpdError)(message, details)
