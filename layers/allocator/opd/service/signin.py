"""Sign-in by phone (contract v3, "Sign-in by phone") over the ports it is given: `PhoneSignIn` for the routes
POST /auth/otp and POST /auth/otp/verify, `CodeSender` and `CodeChecker` for Cognito's Create and Verify auth
challenge triggers (Define is the domain's alone: `domain.otp.define`).

Asking for a code (`request_code`): the phone's window first (at most 3 codes in 15 minutes: TooManyCodes with
the seconds until the oldest leaves it; Redis unreachable: 503, nothing sent). Then who the phone signs in as:
the patient its account names; else, if the phone's last code was for a patient still to be made, that one
again (one Cognito user however often they ask); else the one patient the desk registered with this phone, if
exactly one has it and no phone signs in to them yet; else a new patient id. No patient is written yet. The user
is enrolled in Cognito (but for an account's, enrolled at its first sign-in), a ticket for the code is handed to
the Create trigger, and Cognito's custom flow is started: its Create trigger sends the SMS. The session Cognito
answers is kept under the phone for the code's life.

Answering (`verify`): the phone's session goes to Cognito with the code. Right: for a new patient their record
(no name, this phone) is written, then the phone's account, then the sign-in is forgotten (a code works once).
Wrong: Cognito's next session is kept (Define allows 5 answers in all). Refused for good (5 wrong answers, the
code's life over, the session used): the sign-in is kept void, so a replay, another try or a race are all
INVALID_CODE, and the next code for the phone still signs in the same new patient. A code for another phone is
an answer to that phone's session, wrong there: the session is per phone.

Nothing here logs or raises a phone or a code; patient ids are fine (contract, "People").
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from opd.domain import otp
from opd.domain.otp import CodeChallenge, CodeTicket, PendingSignIn
from opd.domain.patients import Patient, new_patient_id
from opd.errors import InvalidCode, OpdError, TooManyCodes
from opd.messages import parts, sign_in_text
from opd.ports import CodeTickets, PatientPhones, PatientPool, PhoneAccounts, SignInCodes, Tokens
from opd.service.ids import utc_now
from opd.settings import Settings
from opd.sms import SmsBudget, cap_parts

log = logging.getLogger(__name__)

INVALID = "the code is wrong, has expired or was used: ask for a new code if it keeps failing"


def draw_code() -> str:
    """6 digits from the operating system's random source (`secrets`: also right after a SnapStart restore)."""
    return f"{secrets.randbelow(10**otp.CODE_DIGITS):0{otp.CODE_DIGITS}d}"


def draw_salt() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class CodeRequested:
    patient_id: str  # whom the phone signs in as
    new_patient: bool
    expires_in: int  # the code's life, seconds


@dataclass(frozen=True)
class SignedIn:
    tokens: Tokens
    patient_id: str
    new_patient: bool


class PhoneSignIn:
    """The routes' side; `clock` and `new_id` (a new patient's id) may be replaced on a built one (tests do)."""

    def __init__(
        self,
        codes: SignInCodes,
        tickets: CodeTickets,
        accounts: PhoneAccounts,
        patients: PatientPhones,
        pool: PatientPool,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.codes = codes
        self.tickets = tickets
        self.accounts = accounts
        self.patients = patients
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self.new_id: Callable[[], str] = new_patient_id

    @property
    def code_ttl_s(self) -> int:
        return self.settings.sign_in_code_ttl_seconds

    def request_code(self, phone: str, language: str) -> CodeRequested:
        """Have a code sent to `phone` in `language` (a contract language code)."""
        key, now = otp.phone_key(phone), self.clock()
        oldest_ms = self.codes.ask(key, _ms(now), otp.MAX_CODES, otp.CODES_WINDOW_S * 1000)
        if oldest_ms is not None:
            wait = otp.retry_after(oldest_ms / 1000, now.timestamp())
            raise TooManyCodes(
                f"at most {otp.MAX_CODES} sign-in codes per phone in {otp.CODES_WINDOW_S // 60} minutes: "
                f"ask again in {wait} s",
                retry_after_seconds=wait,
            )
        username, new_patient, enrolled = self._signs_in_as(phone, key)
        if not enrolled:
            self.pool.enrol(username)
        self.tickets.give(username, CodeTicket(phone, language), self.code_ttl_s)
        session = self.pool.start(username)
        self.codes.begin(key, PendingSignIn(username, new_patient, session), self.code_ttl_s)
        return CodeRequested(username, new_patient, self.code_ttl_s)

    def _signs_in_as(self, phone: str, key: str) -> tuple[str, bool, bool]:
        """(the user name, whether it is a patient still to be made, whether Cognito has the user already)."""
        if (patient_id := self.accounts.patient_of(phone)) is not None:
            return patient_id, False, True
        pending = self.codes.pending(key)
        if pending is not None and pending.new_patient:  # kept only once its user was enrolled and started
            return pending.username, True, True
        registered = self.patients.with_phone(phone, 2)
        if len(registered) == 1 and not self.accounts.has_account(registered[0]):
            return registered[0], False, False
        return self.new_id(), True, False

    def verify(self, phone: str, code: str) -> SignedIn:
        """The tokens for the phone's code; InvalidCode for a wrong, void, used or expired one."""
        key = otp.phone_key(phone)
        pending = self.codes.pending(key)
        if pending is None or pending.session is None:
            raise InvalidCode(INVALID)
        outcome = self.pool.answer(pending.username, pending.session, code)
        if not isinstance(outcome, Tokens):
            # A wrong answer: Cognito's next session. Refused for good (None): the sign-in stays, void.
            self.codes.carry_on(key, replace(pending, session=outcome))
            raise InvalidCode(INVALID)
        patient_id = self._open_account(phone, pending)
        self.codes.end(key)
        return SignedIn(outcome, patient_id, pending.new_patient)

    def _open_account(self, phone: str, pending: PendingSignIn) -> str:
        """The new patient's record (if they are one) and the phone's account, each written once however often
        this runs: a repeat after a failure finds them written."""
        now, patient_id = self.clock(), pending.username
        if pending.new_patient:
            patient = Patient(patient_id=patient_id, name=None, created_at=now, updated_at=now, phone=phone)
            if not self.patients.insert(patient) and self.patients.get(patient_id) is None:
                raise OpdError(f"the register refused new patient {patient_id}")
        holder = self.accounts.open(phone, patient_id, now)
        if holder != patient_id:  # two first sign-ins of one phone at once, or a second phone of the patient's
            log.warning("patient %s signed in; the phone's account names %s", patient_id, holder)
        return patient_id


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CodeNotSent(RuntimeError):
    """The Create trigger sends no code: none was asked for through the service, or the SMS could not go. The
    trigger fails, Cognito refuses the sign-in's start, and the route answers 503. Never names the phone."""


class CodeSender:
    """The Create auth challenge trigger: a new code, sent, on a sign-in's first challenge; the same on a retry."""

    def __init__(
        self,
        tickets: CodeTickets,
        budget: SmsBudget,
        send: Callable[[str, str], None],
        key: Callable[[], bytes],
        settings: Settings,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], str] = draw_code,
    ) -> None:
        self.tickets = tickets
        self.budget = budget
        self.send = send
        self.key = key
        self.settings = settings
        self.clock = clock
        self.draw = draw

    def create(self, username: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The trigger's `response`. ValueError for a session that is not ours; CodeNotSent as above."""
        sent = otp.code_of_session(request)
        return otp.create(sent if sent is not None else self._send_new(username))

    def _send_new(self, username: str) -> CodeChallenge:
        ticket = self.tickets.take(username)
        if ticket is None:
            raise CodeNotSent(f"no sign-in code was asked for patient {username} through the service")
        ttl, now, code = self.settings.sign_in_code_ttl_seconds, self.clock(), self.draw()
        sent = CodeChallenge.of(self.key(), draw_salt(), username, code, now, ttl)
        text = sign_in_text(code, max(1, math.ceil(ttl / 60)), ticket.language)
        size, month = parts(text), datetime.fromtimestamp(now, UTC).strftime("%Y-%m")
        if not self.budget.spend(size, cap_parts(self.settings, self.settings.sign_in_sms_share_percent), month):
            raise CodeNotSent("the month's SMS spend limit for sign-in codes is reached")
        try:
            self.send(ticket.phone, text)
        except Exception as exc:  # SNS's errors may quote the phone: only their kind goes on
            self.budget.give_back(size, month)
            raise CodeNotSent(f"the SMS was not sent: {type(exc).__name__}") from None
        return sent


class CodeChecker:
    """The Verify auth challenge response trigger."""

    def __init__(self, key: Callable[[], bytes], clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock

    def verify(self, username: str, request: Mapping[str, Any]) -> bool:
        return otp.verify(request, self.key(), username, self.clock())
