"""The doctor directory's record: who a doctor id is, their department and room, the languages they speak.

A name is in any script and is read off the waiting-room board, so what cannot be shown there is refused
(control and formatting characters, unpaired surrogates, line breaks), but the joiners Devanagari and Tamil
need are kept. Texts are kept in NFC with surrounding whitespace trimmed: one department typed on two
keyboards is one department, and the list by department then name groups it once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from opd.domain.languages import Language
from opd.domain.model import ID_PATTERN
from opd.errors import ValidationFailed

MAX_DOCTOR_NAME = 80  # characters (code points, in NFC)
MAX_DEPARTMENT = 60
MAX_ROOM = 20

# Categories nobody can read off a screen: controls, formatting (a bidi override would reorder the board's
# text), surrogates, private use, unassigned, line and paragraph separators.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: they choose a conjunct's form in Indic scripts
_CODES = frozenset(Language)


def tidy(text: str) -> str:
    """Text as the directory keeps it: NFC, without surrounding whitespace."""
    return unicodedata.normalize("NFC", text).strip()


def text_problem(text: str, least: int, most: int) -> str | None:
    """Why `text` cannot be a name, department or room of `least` to `most` characters; None if it can."""
    if len(text) < least:
        return "must hold a character that is not a space"
    if len(text) > most:
        return f"must be at most {most} characters, surrounding spaces not counted"
    if any(unicodedata.category(c) in _UNSHOWN and c not in _JOINERS for c in text):
        return "must hold only characters a screen can show: no control or formatting characters"
    return None


@dataclass(frozen=True)
class Doctor:
    """One doctor of the directory. Never invalid: made from what a client sent with `Doctor.of` (tidied,
    then checked here), so whoever reads one back (the board, the list) shows it as it is."""

    doctor_id: str
    name: str
    department: str
    room: str | None = None
    languages: tuple[Language, ...] = ()

    def __post_init__(self) -> None:
        details = []
        if not ID_PATTERN.fullmatch(self.doctor_id):
            details.append({"field": "doctorId", "message": "must be 1-64 characters of A-Za-z0-9._:-"})
        for field, text, least, most in (
            ("name", self.name, 1, MAX_DOCTOR_NAME),
            ("department", self.department, 1, MAX_DEPARTMENT),
            ("room", self.room, 1, MAX_ROOM),  # an empty room is none (null): `Doctor.of` makes it so
        ):
            problem = None if text is None else text_problem(text, least, most)
            if problem is not None:
                details.append({"field": field, "message": problem})
        if len(set(self.languages)) != len(self.languages):
            # Refused rather than read as a set: a language named twice is a client's mistake, never a wish.
            details.append({"field": "languages", "message": "must name each language at most once"})
        if details:
            raise ValidationFailed(f"invalid doctor: {', '.join(d['field'] for d in details)}", details)

    @classmethod
    def of(
        cls,
        doctor_id: str,
        name: str,
        department: str,
        room: str | None = None,
        languages: Iterable[str] = (),
    ) -> Doctor:
        """The doctor as a client gave it: texts tidied, a blank room none; ValidationFailed naming each field."""
        given = tuple(languages)
        if not all(code in _CODES for code in given):
            raise ValidationFailed.field("languages", f"must be a list of the codes {', '.join(Language)}")
        kept_room = None if room is None else tidy(room) or None
        return cls(doctor_id, tidy(name), tidy(department), kept_room, tuple(Language(code) for code in given))


def department_of(text: str) -> str:
    """A department asked for (`GET /doctors?department=`) as the directory keeps it; ValidationFailed if
    no doctor could have it."""
    department = tidy(text)
    problem = text_problem(department, 1, MAX_DEPARTMENT)
    if problem is not None:
        raise ValidationFailed.field("department", problem)
    return department
