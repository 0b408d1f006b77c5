"""What the allocator needs from the outside world: somewhere to keep slots, a lock per slot, and a bus.

`opd.service` depends on these protocols, not on MongoDB or Redis. The real adapters
(`opd.store.SlotStore`, `opd.lock.SlotLock`) satisfy them structurally, and so do the unit tests'
in-memory fakes. Either may raise `DependencyUnavailable` when its backend cannot be reached,
having written nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from opd.domain import Booking, Doctor, Relayed, Slot
from opd.domain.otp import CodeTicket, PendingSignIn
from opd.domain.patients import NameAndLanguage, Patient
from opd.eventbridge import Entry


class BookingArchive(Protocol):
    """Finished bookings that left their slot's document (`domain.archive`): MongoDB, or a fake."""

    def add(self, slot: Slot, bookings: Sequence[Booking]) -> None:
        """Archive `bookings` of `slot` (idempotent: one archived already stays as it is)."""

    def get(self, booking_id: str) -> Booking | None: ...

    def with_status_code(self, code: str) -> Booking | None:
        """The archived booking whose status code is `code`, found by an index."""

    def of_patient(self, slot_id: str, patient_id: str) -> list[Booking]:
        """The patient's archived bookings of one slot."""

    def patient_bookings(
        self,
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_key: tuple[datetime, str, str] | None,
    ) -> list[tuple[datetime, Booking]]:
        """The patient's archived bookings in slots starting in [start_from, start_before), each with its slot's
        start, by (start, doctor id, booking id), from `from_key` (that order's key) on, included: at most `limit`."""


class SlotRepository(Protocol):
    """The slots, one record per slot holding its capacity, delay, token counter and bookings.

    Each record carries a version; every write after the first is conditional on it.
    """

    @property
    def archive(self) -> BookingArchive:
        """Where the slots' finished bookings go when they leave the slot's record."""

    def insert(self, slot: Slot) -> None:
        """Add a new slot as it is. Raises `SlotExists` if the doctor already has a slot starting at
        the same instant (whatever the offset it was given in), or the slot id is taken."""

    def insert_all(self, slots: list[Slot]) -> dict[datetime, str]:
        """Add one doctor's slots in as few round trips as it can; a slot whose start instant the
        doctor has already is left as it is. Returns those that existed: start → slot id."""

    def get(self, slot_id: str) -> Slot | None:
        """The slot as last written, with that write's version; None if there is no such slot."""

    def replace(self, slot: Slot, read_version: int) -> bool:
        """Write the whole slot if it is still at `read_version`; the stored version becomes `read_version + 1`.

        False means someone else wrote it since (or it is gone) and nothing was written: read it
        again and decide again.
        """

    def doctor_slots(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[Slot]:
        """The doctor's slots starting at or after `start_from` and before `start_before`, by start."""

    def slot_starts(self, doctor_id: str, start_from: datetime, start_before: datetime) -> list[datetime]:
        """The start instants of the doctor's slots starting at or after `start_from` and before
        `start_before`, in any order: one indexed query, reading no slot's body."""

    def patient_slots(
        self,
        patient_id: str,
        start_from: datetime,
        start_before: datetime,
        limit: int,
        from_slot: tuple[datetime, str] | None = None,
    ) -> list[Slot]:
        """The slots holding a booking of the patient, in any state, starting at or after `start_from` and
        before `start_before`, by (start, doctor id): the first `limit` of them. With `from_slot`, a start and a
        doctor id, only the slot at that start of that doctor and those after it in that order."""

    def slot_with_status_code(self, code: str) -> Slot | None:
        """The slot holding the booking whose status code is `code` (not one archived from it), found by an index."""

    def slots_awaiting_sweep(self, started_by: datetime, batch_size: int) -> Iterable[str]:
        """Ids of the slots that started at or before `started_by` and still hold a BOOKED booking,
        oldest start first, read lazily `batch_size` at a time so a sweep can stop part-way."""

    def slots_with_reschedules(self, batch_size: int) -> Iterable[str]:
        """Ids of the slots holding a booking that is being rescheduled (marked `rescheduled_to`, still
        BOOKED), in no particular order, read lazily `batch_size` at a time."""

    def slots_with_events(self, batch_size: int) -> Iterable[Slot]:
        """The slots whose outbox holds events (published or not), found by an index, read lazily."""

    def prune_outbox(self, slot: Slot, relayed: Relayed) -> bool:
        """Drop from the slot's outbox the events `relayed` says are published, if the slot is
        still at `slot.version`; the version stays (nothing a writer decides on changed). False: it moved
        on, and its next writer prunes instead."""


@dataclass(frozen=True)
class KeyClaim:
    """A keyed request's claim on its key: this key, for this slot and body, for `ttl_s` seconds."""

    key: str  # the hash of (caller, Idempotency-Key)
    slot_id: str
    body: str  # the hash of the request body
    ttl_s: int


@dataclass(frozen=True)
class KeyRecord:
    """What a key's record held when it decided the answer: another slot or body, or a refusal."""

    slot_id: str
    body: str
    refusal: str | None  # the first answer's error as JSON, when it was a refusal

    def matches(self, claim: KeyClaim) -> bool:
        return (self.slot_id, self.body) == (claim.slot_id, claim.body)


@dataclass(frozen=True)
class Held:
    owner: str
    waited: bool  # another holder made us wait: a slot read before taking the lock is likely stale
    # The slot's relay marker, read by the same script: which versions' events are published. Empty
    # when unknown (never set, or lost: then events are published again).
    relayed: Relayed = field(default_factory=Relayed)


class SlotMutex(Protocol):
    """Keeps the writers of one slot in single file, so nearly every request decides on its first try,
    and keeps beside it what an Idempotency-Key's record must say (its slot, a refused first answer).

    It is not what keeps the counts right: the lock may expire under a stalled holder, and the
    repository's version-conditional replace is what refuses the stale write.
    """

    def acquire(self, slot_id: str, claim: KeyClaim | None = None) -> Held | KeyRecord:
        """Hold the slot's lock, or raise `SlotBusy` after a bounded wait. With a claim, the key's
        record is claimed at the same time; a record that decides the answer (another slot or body,
        a remembered refusal) is returned instead, and no lock is taken."""

    def release_quietly(self, slot_id: str, owner: str, hand_off: str | None = None) -> None:
        """Let go of the lock if `owner` still holds it, and hand off a written change's events to the
        publisher (`opd.handoff`) in the same round trip; never fails the request."""

    def published_marks(self, slot_ids: Sequence[str]) -> dict[str, Relayed]:
        """The relay markers of these slots, in one round trip; slots without one are left out."""

    def record_published(self, marks: Mapping[str, Relayed]) -> None:
        """Add to each slot's relay marker what is newly published (`Relayed.merged`), in one round trip."""

    def remember_refusal(self, claim: KeyClaim, refusal: str) -> KeyRecord | None:
        """Keep `refusal` as the key's first answer: None if it now is, else the record that decides."""


class EventPublisher(Protocol):
    """The event bus: EventBridge in AWS and locally (moto), a recording fake in the unit tests."""

    def publish(self, entries: Sequence[Entry]) -> set[str]:
        """Put the entries on the bus, 10 to a request; returns the ids of those it took. Entries it did
        not take stay pending: the relay tries again. May raise when the bus cannot be reached at all."""


class EventBacklog(Protocol):
    """Events the bus could not take, kept outside the slots' documents until the relay publishes them."""

    def add(self, entries: Sequence[Entry]) -> None:
        """Keep the entries, each once by its eventId (adding one again changes nothing)."""

    def oldest(self, limit: int) -> list[Entry]:
        """The oldest entries kept, at most `limit`."""

    def remove(self, event_ids: Collection[str]) -> None:
        """Forget these entries: the bus took them."""


class DoctorDirectory(Protocol):
    """The doctor directory (`opd.doctors.DoctorStore`): who a doctor id is, for the board, the desk and the app."""

    def record(self, doctor: Doctor) -> None:
        """Create or replace the doctor's record."""

    def get(self, doctor_id: str) -> Doctor | None:
        """The doctor's record; None where none is recorded (the id may still have slots)."""

    def listing(self, department: str | None = None) -> list[Doctor]:
        """Every doctor, or those of one department, by department then name."""


class PatientRecords(Protocol):
    """The patient register (`opd.patients.PatientStore`): one record per patient, and the search's keys."""

    def insert(self, patient: Patient) -> bool:
        """Register a new patient. PatientExists if another holds its ABHA address; False, nothing written, when
        its id or address was taken by a record that no longer holds the address: try again with a new id."""

    def get(self, patient_id: str) -> Patient | None: ...

    def name_and_language(self, patient_id: str) -> NameAndLanguage:
        """The registered patient's name and language; None for what the record lacks, both for no record."""

    def names_of(self, patient_ids: Iterable[str]) -> dict[str, str]:
        """The names of those of these patients who are registered, by id."""

    def update(self, before: Patient, after: Patient) -> Patient | None:
        """Write `after` (changed from `before` as read) if the record is still as read; None, nothing written,
        when it moved on: read it again and repeat the change. PatientExists as for `insert`."""

    def search(self, q: str) -> list[Patient]:
        """At most 20 patients `q` finds (`domain.patients.search_key`), by name then id."""


# -- sign-in by phone (`opd.service.signin`) ---------------------------------------------------------------


class PatientPhones(PatientRecords, Protocol):
    """The register, and who in it has a phone (`opd.patients.PatientStore`)."""

    def with_phone(self, phone: str, limit: int) -> list[str]:
        """The ids of at most `limit` patients registered with this phone."""


class SignInCodes(Protocol):
    """Each phone's sign-in in Redis (`opd.signins.RedisSignIns`): the codes it asked for lately, and the pending one.
    Phones are named by `domain.otp.phone_key`."""

    def ask(self, phone_key: str, now_ms: int, limit: int, window_ms: int) -> int | None:
        """Count one more code for the phone if fewer than `limit` were counted within the last `window_ms`:
        None. Otherwise count nothing, and answer when (Unix ms) the oldest of them leaves the window."""

    def pending(self, phone_key: str) -> PendingSignIn | None:
        """The phone's sign-in between its code and its answer; None when there is none (or it ended)."""

    def begin(self, phone_key: str, pending: PendingSignIn, ttl_s: int) -> None:
        """Keep the phone's sign-in for `ttl_s` seconds, in place of any before it."""

    def carry_on(self, phone_key: str, pending: PendingSignIn) -> None:
        """Replace the phone's sign-in, keeping its end of life; nothing if it has ended meanwhile."""

    def end(self, phone_key: str) -> None:
        """Forget the phone's sign-in: its code is used."""


class CodeTickets(Protocol):
    """What the service hands the Create auth challenge trigger, per user: a code it allows, and where it goes."""

    def give(self, username: str, ticket: CodeTicket, ttl_s: int) -> None: ...

    def take(self, username: str) -> CodeTicket | None:
        """The user's oldest ticket, once: None if the service gave none (or they all expired)."""


class PhoneAccounts(Protocol):
    """Which patient each phone signs in to (`opd.accounts.PhoneAccountStore`): a phone has one, a patient one."""

    def patient_of(self, phone: str) -> str | None: ...

    def has_account(self, patient_id: str) -> bool:
        """Whether some phone signs in to this patient already."""

    def open(self, phone: str, patient_id: str, now: datetime) -> str | None:
        """Make `phone` sign in to `patient_id`, unless it signs in to someone already: the patient it signs in to
        now; None when the patient has an account with another phone (nothing written)."""


@dataclass(frozen=True)
class Tokens:
    """What Cognito answers a finished sign-in: the tokens, and the access token's life in seconds."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int


class PatientPool(Protocol):
    """The patients in the Cognito user pool, and its custom authentication flow (`opd.cognito.CognitoPatients`).
    DependencyUnavailable when Cognito cannot be reached, or a trigger failed (no code sent)."""

    def enrol(self, username: str) -> None:
        """Make sure the user exists, in the group patient."""

    def start(self, username: str) -> str:
        """Start the user's sign-in (Cognito's triggers send the code): the session to answer it with."""

    def answer(self, username: str, session: str, code: str) -> Tokens | str | None:
        """The tokens for the right code; a new session after a wrong one (the same code may be tried again);
        None when Cognito refuses the sign-in for good (too many tries, its life over, the session used)."""
