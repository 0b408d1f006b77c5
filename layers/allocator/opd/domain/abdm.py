"""ABDM Scan & Share, the pure part: a shared ABHA profile as the patient register keeps it, the on-share callback's
body, and how long a callback the gateway did not take waits before its next try.

No clock, no I/O. The gateway posts what the patient's ABHA app holds (KYC-verified, but written to ABDM's rules, not
the register's): each field is read leniently, and what the register cannot keep as it is (a masked phone, a year
out of range, an unknown gender letter) is dropped or read as unknown, never refused. Only a share without an ABHA
address or without a letter of a name is refused: there is no one to give a token to.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from opd.domain.model import PHONE_PATTERN
from opd.domain.patients import FIRST_YEAR_OF_BIRTH, MAX_NAME, Sex, require_abha_address, require_name
from opd.errors import ValidationFailed

MAX_ADDRESS = 200  # characters of the one line the register keeps: "<line>, <district>, <state> <pincode>"
# ABDM's letters: M, F, O, and D ("do not want to disclose"); ABHA enrolment also knows T (transgender). Read by the
# first letter, so "Male" or "female" are read too; any other letter is unknown (U), never a refusal.
_SEX_OF_LETTER = {"M": Sex.M, "F": Sex.F, "O": Sex.O, "T": Sex.O, "D": Sex.U, "U": Sex.U}
_PHONE_NOISE = re.compile(r"[\s\-().]")
_INDIAN_MOBILE = re.compile(r"(?:\+?91|0)?([6-9][0-9]{9})")  # 10 digits from 6-9, with or without 91 or 0
_NAME_MARKS = frozenset(" .'-\u200c\u200d")  # what the register keeps beside letters and marks (domain.patients)
# The on-share callback's tries: the first again after 2 s, then twice as long each time, at most 15 minutes.
# The patient's ABHA app waits for the token for about half a minute: the first tries are the ones that count.
RETRY_FIRST_S = 2
RETRY_MAX_S = 900


def sex_of(gender: object) -> Sex | None:
    """The register's sex from ABDM's gender: M, F, O as they are, T as O, D (not disclosed) and the rest as U."""
    if not isinstance(gender, str) or not gender.strip():
        return None
    return _SEX_OF_LETTER.get(gender.strip()[0].upper(), Sex.U)


def phone_of(number: object) -> str | None:
    """E.164 from ABHA's mobile: an Indian mobile's 10 digits (with or without 91, +91 or 0 before them) as +91...,
    another number already in E.164 as it is; a masked (`XXXXXX1234`) or unreadable one is dropped."""
    if not isinstance(number, str | int) or isinstance(number, bool):
        return None
    text = _PHONE_NOISE.sub("", str(number))
    if mobile := _INDIAN_MOBILE.fullmatch(text):
        return f"+91{mobile.group(1)}"
    return text if PHONE_PATTERN.fullmatch(text) else None


def year_of_birth(value: object, this_year: int) -> int | None:
    """ABHA's year of birth (a number, or its digits as text) if the register can keep it, else unknown."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and FIRST_YEAR_OF_BIRTH <= value <= this_year:
        return value
    return None


def name_of(value: object) -> str:
    """The register's name from ABHA's: what a name may not hold there (digits, `,`, `/` as in "S/O") becomes a
    space, and a longer one is cut at 80 characters; ValidationFailed on `profile.patient.name` if no letter is left."""
    text = unicodedata.normalize("NFC", value).replace("\u2019", "'") if isinstance(value, str) else ""
    kept = "".join(c if unicodedata.category(c)[0] in "LM" or c in _NAME_MARKS else " " for c in text)
    name = " ".join(part for part in kept.split(" ") if part)[:MAX_NAME].rstrip()
    try:
        return require_name(name)
    except ValidationFailed as refused:
        raise ValidationFailed.field("profile.patient.name", refused.details[0]["message"]) from None


def abha_address_of(value: object) -> str:
    """The ABHA address as the register keeps it (lower case); ValidationFailed on `profile.patient.abhaAddress`."""
    try:
        address = require_abha_address(value)
    except ValidationFailed as refused:
        raise ValidationFailed.field("profile.patient.abhaAddress", refused.details[0]["message"]) from None
    if address is None:
        raise ValidationFailed.field("profile.patient.abhaAddress", "is required")
    return address


def address_of(line: object, district: object, state: object, pincode: object) -> str | None:
    """ABHA's address as one line: "<line>, <district>, <state> <pincode>", what is missing left out; None if empty."""
    parts = [" ".join(part.split()) for part in (line, district, state) if isinstance(part, str) and part.strip()]
    text = ", ".join(part for part in parts if part)
    pin = str(pincode).strip() if isinstance(pincode, str | int) and not isinstance(pincode, bool) else ""
    text = f"{text} {pin}".strip() if pin else text
    return text[:MAX_ADDRESS].strip() or None


def on_share_body(
    request_id: str, abha_address: str, counter_id: str, token_number: int, expiry_s: int
) -> dict[str, Any]:
    """The on-share callback (ABDM's HIE-CM profile share, `/patient-share/v3/on-share`): the token number as text,
    the counter as the share's context, the token's validity in seconds, and the share's REQUEST-ID it answers."""
    return {
        "acknowledgement": {
            "status": "SUCCESS",
            "abhaAddress": abha_address,
            "context": counter_id,
            "tokenNumber": str(token_number),
            "expiry": expiry_s,
        },
        "response": {"requestId": request_id},
    }


def retry_delay_s(receive_count: int) -> int:
    """How long a callback that failed on its `receive_count`-th try waits before the next: 2, 4, 8 ... 900 s."""
    doublings = min(max(receive_count, 1) - 1, 20)  # bounded: 2 << 20 s is far past the cap already
    return min(RETRY_MAX_S, RETRY_FIRST_S << doublings)
