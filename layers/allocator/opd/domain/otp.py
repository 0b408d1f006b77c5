"""Sign-in by phone (contract v3, "Sign-in by phone"): the code, what is kept of it, and the decisions of Cognito's
custom authentication triggers, as pure functions of what Cognito hands a trigger and of the time.

A code is 6 digits. What is kept of it is an HMAC-SHA256 under the stack's secret key (`SIGN_IN_CODE_KEY`), of
a random salt of its own, the user and the code: a million codes are a million guesses away from any hash, so
without the key the hash tells nothing, and the salt makes two equal codes two unrelated hashes. The clear code
exists only in the Create trigger's memory and in the SMS.

Cognito keeps what the triggers say between the calls of one sign-in: the Create trigger's
`privateChallengeParameters` (given to Verify with the answer) and `challengeMetadata` (given to every later
trigger in `session`, one entry per challenge asked). Both carry the code's salt, hash and end of life, never
the code. A wrong answer makes Define ask again, and Create then issues the same code again, read from the first
challenge's metadata: a retry sends no SMS.

- Define: fail an unknown user or any challenge not ours; tokens once the last answer was right; fail after
  MAX_TRIES answers or once the code's life is over; else one more CUSTOM_CHALLENGE.
- Create: a new code (the caller draws it, sends it) on the first challenge, the same one on every retry.
- Verify: right when the answer is 6 digits, the code is still alive, and its hash is the one kept.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CODE_DIGITS = 6
CODE_TTL_S = 300  # a code's life, 5 minutes: the default of SIGN_IN_CODE_TTL_SECONDS, and its most
MAX_TRIES = 5  # answers to one code; the 5th wrong one voids it
MAX_CODES = 3  # codes one phone may ask for ...
CODES_WINDOW_S = 900  # ... within any 15 minutes
CHALLENGE = "CUSTOM_CHALLENGE"  # Cognito's name for a challenge of the custom flow
_CODE = re.compile(r"^[0-9]{6}$")
_HASH_VERSION = "opd-sign-in-code-v1"
_METADATA = re.compile(r"^CODE:([0-9a-f]{32}):([0-9a-f]{64}):([0-9]{1,12})$")


@dataclass(frozen=True)
class CodeChallenge:
    """What a challenge keeps of its code: the salt, the hash, and when it stops working (Unix seconds)."""

    salt: str  # 32 hex digits
    digest: str  # 64 hex digits: code_hash(key, salt, username, code)
    expires_at: int

    @classmethod
    def of(cls, key: bytes, salt: str, username: str, code: str, now: float, ttl_s: int) -> CodeChallenge:
        return cls(salt, code_hash(key, salt, username, code), math.floor(now) + ttl_s)

    def metadata(self) -> str:
        """The challenge's `challengeMetadata`, which Cognito hands every later trigger of this sign-in."""
        return f"CODE:{self.salt}:{self.digest}:{self.expires_at}"

    @classmethod
    def from_metadata(cls, text: object) -> CodeChallenge | None:
        found = _METADATA.fullmatch(text) if isinstance(text, str) else None
        return None if found is None else cls(found[1], found[2], int(found[3]))

    def private(self) -> dict[str, str]:
        """The challenge's `privateChallengeParameters` (Cognito takes strings only), which Verify gets."""
        return {"metadata": self.metadata()}

    @classmethod
    def from_private(cls, parameters: object) -> CodeChallenge | None:
        return cls.from_metadata(parameters.get("metadata")) if isinstance(parameters, Mapping) else None

    def alive(self, now: float) -> bool:
        return now < self.expires_at


def code_hash(key: bytes, salt: str, username: str, code: str) -> str:
    """HMAC-SHA256 under the stack's key of the salt, the user and the code (each part on its own: no two inputs
    run together into the same text)."""
    message = "\x00".join((_HASH_VERSION, salt, username, code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def is_code(text: object) -> bool:
    return isinstance(text, str) and _CODE.fullmatch(text) is not None


# -- the triggers' decisions: each takes the event's `request` and answers the event's `response` ---------------


def _session(request: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    session = request.get("session")
    return [entry for entry in session if isinstance(entry, Mapping)] if isinstance(session, list) else []


def code_of_session(request: Mapping[str, Any]) -> CodeChallenge | None:
    """The code this sign-in was sent, from its first challenge's metadata; None before the first challenge.
    ValueError if the session holds challenges but no code of ours: nothing to ask again."""
    session = _session(request)
    if not session:
        return None
    found = CodeChallenge.from_metadata(session[0].get("challengeMetadata"))
    if found is None:
        raise ValueError("this sign-in's first challenge carries no sign-in code")
    return found


FAIL: dict[str, Any] = {"challengeName": None, "issueTokens": False, "failAuthentication": True}
TOKENS: dict[str, Any] = {"challengeName": None, "issueTokens": True, "failAuthentication": False}
ASK: dict[str, Any] = {"challengeName": CHALLENGE, "issueTokens": False, "failAuthentication": False}


def define(request: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Define auth challenge: what comes next in this sign-in (the trigger's `response`)."""
    session = _session(request)
    if request.get("userNotFound") or any(entry.get("challengeName") != CHALLENGE for entry in session):
        return dict(FAIL)
    if not session:
        return dict(ASK)
    if session[-1].get("challengeResult") is True:
        return dict(TOKENS)
    try:
        sent = code_of_session(request)
    except ValueError:
        return dict(FAIL)
    if len(session) >= MAX_TRIES or sent is None or not sent.alive(now):
        return dict(FAIL)
    return dict(ASK)


def create(sent: CodeChallenge) -> dict[str, Any]:
    """Create auth challenge's `response` for the code `sent` (new, or this sign-in's again)."""
    return {
        "publicChallengeParameters": {"delivery": "SMS", "codeLength": str(CODE_DIGITS)},
        "privateChallengeParameters": sent.private(),
        "challengeMetadata": sent.metadata(),
    }


def verify(request: Mapping[str, Any], key: bytes, username: str, now: float) -> bool:
    """Verify auth challenge response: is the answer this challenge's code, while it is alive?"""
    answer = request.get("challengeAnswer")
    sent = CodeChallenge.from_private(request.get("privateChallengeParameters"))
    if sent is None or not is_code(answer) or not sent.alive(now):
        return False
    assert isinstance(answer, str)
    return hmac.compare_digest(code_hash(key, sent.salt, username, answer), sent.digest)


# -- the service's side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeTicket:
    """What the service hands the Create trigger through Redis for one code it allows: where to send it, in
    which language. A code is sent only against a ticket, so a sign-in started around the service (Cognito's
    own InitiateAuth, called with the public client id) sends no SMS."""

    phone: str
    language: str


@dataclass(frozen=True)
class PendingSignIn:
    """A phone's sign-in between its code and its answer: Cognito's session (None once Cognito refused it: the
    code is void), the user it signs in, and whether that is a patient still to be made."""

    username: str
    new_patient: bool
    session: str | None


def phone_key(phone: str) -> str:
    """The phone as Redis keys name it: a hash, so no key listing, slow log or MONITOR shows a phone (it hides
    nothing from someone who has Redis's data and tries every number: that is not what it is for)."""
    return hashlib.sha256(f"opd-phone\x00{phone}".encode()).hexdigest()[:32]


def retry_after(oldest_s: float, now_s: float, window_s: int = CODES_WINDOW_S) -> int:
    """Seconds until the oldest code of the window leaves it, so that one more may be asked for (at least 1)."""
    return max(1, math.ceil(oldest_s + window_s - now_s))
