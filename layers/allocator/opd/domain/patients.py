"""The patient register's record (contract, "People"): a Patient, the rules of each field, and the keys the
desk's search finds a patient by.

Pure: whoever calls gives the time and "this year" (a year of birth may not be in the future). A search is
one lookup of one key among a patient's `search_keys`: each word of the name by its starts, and the
phone's last digits. Names are in any script; folding them for search drops the accents of Latin letters
(the desk types "rama" for "Rāma") but keeps the vowel signs and viramas of Devanagari and Tamil, which
are letters of the word, not decoration ("कि" is not "क").
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from opd.domain.languages import Language
from opd.domain.model import PHONE_PATTERN
from opd.errors import ValidationFailed

MAX_NAME = 80  # characters (code points, in NFC)
FIRST_YEAR_OF_BIRTH = 1900
MIN_ABHA, MAX_ABHA = 3, 60
SEARCH_LIMIT = 20  # patients in one answer of GET /patients?q=
MIN_QUERY, MAX_QUERY = 2, 64
# Name keys are the starts of a word, 2 to 16 characters, so a name makes 8-30 keys, and one built for it
# (80 characters of 15-letter words with apostrophes) 125, never hundreds; 16 characters tell names apart
# as well as the whole word would.
MIN_PREFIX, MAX_PREFIX = 2, 16
MIN_PHONE_DIGITS = 4
NAME_KEY, PHONE_KEY = "n:", "p:"  # a name "1234" can never be mistaken for a phone's digits

# handle@suffix: a handle of letters, digits, `.` and `_` (neither at its ends), a suffix such as `abdm` or `sbx`.
ABHA_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._]*[a-z0-9])?@[a-z0-9]+$")
_NAME_MARKS = frozenset(" .'-")
_JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: they choose a conjunct's form in Indic scripts
_WORD_BREAKS = re.compile(r"[ .\-]+")
_PHONE_QUERY = re.compile(r"^\+?[0-9][0-9 \-]*$")
_LANGUAGES = frozenset(Language)


class Sex(StrEnum):
    F = "F"
    M = "M"
    O = "O"  # noqa: E741  (the contract's letter for "other")
    U = "U"  # unknown, or not said


@dataclass(frozen=True)
class NameAndLanguage:
    """What a booking takes from its patient's record: the name its answers show, the language of its SMS (each
    None where the record has none, or there is no record)."""

    name: str | None = None
    language: Language | None = None


@dataclass(frozen=True)
class Patient:
    """One patient of the register. `name` is None only for a patient who signed in by phone and has not
    given it yet; every other field but the id and times may be unknown (None). `version` counts the record's
    writes, the fence of the next one (no part of the contract's Patient)."""

    patient_id: str
    name: str | None
    created_at: datetime
    updated_at: datetime
    phone: str | None = None
    year_of_birth: int | None = None
    sex: Sex | None = None
    language: Language | None = None
    abha_address: str | None = None
    # One line of text, kept from an ABDM Scan & Share (`domain.abdm.address_of`); no part of the contract's Patient.
    address: str | None = None
    version: int = 0


def new_patient_id() -> str:
    """64 random bits: a register of ten million patients has one chance in ~370,000 of drawing an id twice."""
    return f"pt-{secrets.token_hex(8)}"


# -- each field: the value as a client sent it (parsed JSON) -> the value as the register keeps it ----------


def require_name(value: object) -> str:
    """NFC, runs of spaces made one, `’` typed by a tablet's keyboard read as `'`. ZWJ and ZWNJ are kept as
    marks are: Devanagari and Tamil keyboards type them to choose a conjunct's form."""
    if not isinstance(value, str):
        raise ValidationFailed.field("name", "must be text")
    words = unicodedata.normalize("NFC", value).replace("\u2019", "'").split(" ")
    name = " ".join(word for word in words if word)  # only spaces: a tab or line break is refused below
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed.field("name", f"must be 1-{MAX_NAME} characters, surrounding spaces not counted")
    if not all(_name_character(c) for c in name):
        raise ValidationFailed.field("name", "must hold only letters, combining marks, spaces, '.', \"'\" and '-'")
    if not any(unicodedata.category(c).startswith("L") for c in name):
        raise ValidationFailed.field("name", "must hold at least one letter")
    return name


def _in_word(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM" or c in _JOINERS


def _name_character(c: str) -> bool:
    return _in_word(c) or c in _NAME_MARKS


def require_phone(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not PHONE_PATTERN.fullmatch(value):
        raise ValidationFailed.field("phone", "must be E.164, e.g. +919876543210")
    return value


def require_year_of_birth(value: object, this_year: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not FIRST_YEAR_OF_BIRTH <= value <= this_year:  # True is 1: refused too
        raise ValidationFailed.field("yearOfBirth", f"must be a year from {FIRST_YEAR_OF_BIRTH} to {this_year}")
    return value


def require_sex(value: object) -> Sex | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in Sex.__members__:
        raise ValidationFailed.field("sex", f"must be one of {', '.join(Sex)}")
    return Sex(value)


def require_language(value: object) -> Language | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in _LANGUAGES:
        raise ValidationFailed.field("language", f"must be one of {', '.join(Language)}")
    return Language(value)


def require_abha_address(value: object) -> str | None:
    """Kept in lower case: one address typed in two cases is one address, never two patients."""
    if value is None:
        return None
    address = value.strip().lower() if isinstance(value, str) else ""
    if not MIN_ABHA <= len(address) <= MAX_ABHA or not ABHA_PATTERN.fullmatch(address):
        message = f"must be an ABHA address of {MIN_ABHA}-{MAX_ABHA} characters, handle@suffix such as ravi.kumar@sbx"
        raise ValidationFailed.field("abhaAddress", message)
    return address


# The body's fields (POST /patients, PATCH /patients/{id}) and the Patient's attribute each one sets.
_ATTRIBUTES = {
    "name": "name",
    "phone": "phone",
    "yearOfBirth": "year_of_birth",
    "sex": "sex",
    "language": "language",
    "abhaAddress": "abha_address",
}


def _checked(body: Mapping[str, object], this_year: int) -> dict[str, Any]:
    """The body's fields as the Patient's attributes, each checked; one ValidationFailed naming every bad field."""
    checks: dict[str, Callable[[object], object]] = {
        "name": require_name,
        "phone": require_phone,
        "yearOfBirth": lambda v: require_year_of_birth(v, this_year),
        "sex": require_sex,
        "language": require_language,
        "abhaAddress": require_abha_address,
    }
    values: dict[str, Any] = {}
    details: list[dict[str, Any]] = []
    for field, value in body.items():
        if field not in checks:
            details.append({"field": field, "message": "is not a field of a patient"})
            continue
        try:
            values[_ATTRIBUTES[field]] = checks[field](value)
        except ValidationFailed as exc:
            details.extend(exc.details)
    if details:
        raise ValidationFailed(f"invalid patient: {', '.join(d['field'] for d in details)}", details)
    return values


def register(patient_id: str, body: Mapping[str, object], now: datetime, this_year: int) -> Patient:
    """A new patient from POST /patients's body: `name` is required, the rest optional."""
    if "name" not in body:
        raise ValidationFailed.field("name", "is required")
    return Patient(patient_id=patient_id, created_at=now, updated_at=now, **_checked(body, this_year))


def amend(patient: Patient, body: Mapping[str, object], now: datetime, this_year: int) -> Patient:
    """The patient with PATCH's fields changed; a field given as null becomes unknown, except the name, which
    once given stays (null is only for who has never given one)."""
    return replace(patient, updated_at=now, **_checked(body, this_year))


# -- search ------------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Text as search compares it: NFKD, marks on Latin letters dropped, joiners dropped, casefolded, then NFC
    again, so Tamil's two-part vowel signs (ொ = ெ + ா) are one character whichever way they were typed."""
    kept = []
    latin_base = False
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.category(c).startswith("M"):
            if latin_base:
                continue
        elif c in _JOINERS:
            continue
        else:
            latin_base = unicodedata.name(c, "").startswith("LATIN ")
        kept.append(c)
    return unicodedata.normalize("NFC", "".join(kept).casefold())


def name_words(name: str) -> list[str]:
    """The words of a name, folded. "D'Souza" is both "d'souza" typed as "dsouza" and "souza"."""
    words: list[str] = []
    for part in _WORD_BREAKS.split(fold(name)):
        pieces = [p for p in part.split("'") if p]
        words.extend(pieces)
        if len(pieces) > 1:
            words.append("".join(pieces))
    return words


def search_keys(patient: Patient) -> list[str]:
    """Every key a search finds the patient by: each word's starts of 2-16 characters, the phone's last 4 or more
    digits. No duplicates, in a stable order."""
    keys: dict[str, None] = {}
    for word in name_words(patient.name or ""):
        for length in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1):
            keys[NAME_KEY + word[:length]] = None
    if patient.phone is not None:
        digits = patient.phone.removeprefix("+")
        for length in range(MIN_PHONE_DIGITS, len(digits) + 1):
            keys[PHONE_KEY + digits[-length:]] = None
    return list(keys)


def search_key(q: str) -> str:
    """The one key that answers what the desk typed: 4 or more digits (with `+`, spaces or dashes, as a phone
    is written) are the end of a phone; anything else is the start of a word of the name. Of several words
    ("ravi ku") the longest is looked up, the one that narrows most; a word longer than a key looks up its
    first 16 characters."""
    text = q.strip()
    if not MIN_QUERY <= len(text) <= MAX_QUERY:
        raise ValidationFailed.field("q", f"must be {MIN_QUERY}-{MAX_QUERY} characters")
    digits = re.sub(r"[^0-9]", "", text)
    if _PHONE_QUERY.fullmatch(text) and len(digits) >= MIN_PHONE_DIGITS:
        return PHONE_KEY + digits
    # Apostrophes joined ("d'sou" is "dsou"), anything else that cannot be in a name parts words.
    joined = text.replace("'", "").replace("\u2019", "")
    word = max(name_words("".join(c if _in_word(c) else " " for c in joined)), key=len, default="")
    if len(word) < MIN_PREFIX:
        raise ValidationFailed.field("q", "must hold 2 or more letters of a name, or 4 or more digits of a phone")
    return NAME_KEY + word[:MAX_PREFIX]
