"""The demo's patients as people: a name, a language and, for about half, a mobile number, each a fixed choice per
patient.

A patient is known to the replay by a label that says what part they play (`walkin-asha-0900-1`, `pt-0042`);
the desk registers them under a name and language (POST /patients) and books them by the id the register answers,
so their bookings, and SMS, take that language. Names come in the scripts a hospital in India registers: most in
Latin letters, some in Devanagari, some in Tamil; the language follows the script, and a name in Latin letters
reads its SMS in English, Hindi or Tamil.
"""

from __future__ import annotations

import zlib

GIVEN = (
    "Aarav", "Aditi", "Anil", "Anjali", "Arjun", "Deepa", "Farhan", "Gita", "Harish", "Imran", "Kavya", "Lakshmi",
    "Manoj", "Meera", "Naveen", "Nisha", "Pooja", "Priya", "Rahul", "Ravi", "Sanjay", "Shreya", "Suresh", "Zoya",
)  # fmt: skip
FAMILY = (
    "Banerjee", "Das", "Fernandes", "Gupta", "Iyer", "Joshi", "Khan", "Kumar", "Menon", "Nair", "Patel", "Rao",
    "Reddy", "Shah", "Sharma", "Singh", "Verma",
)  # fmt: skip
DEVANAGARI = ("आशा वर्मा", "रवि कुमार", "सुनीता शर्मा", "अमित सिंह", "प्रिया गुप्ता", "राजेश यादव")
TAMIL = ("கவிதா சுப்பிரமணியன்", "முருகன் ராஜா", "லட்சுமி நாராயணன்", "செல்வி அருண்")


def _digest(label: str) -> int:
    return zlib.crc32(label.encode())


def name_of(label: str) -> str:
    """One patient in six is registered in Devanagari, one in eight in Tamil, the rest in Latin letters."""
    digest = _digest(label)
    if digest % 6 == 0:
        return DEVANAGARI[digest // 6 % len(DEVANAGARI)]
    if digest % 8 == 1:
        return TAMIL[digest // 8 % len(TAMIL)]
    return f"{GIVEN[digest // 7 % len(GIVEN)]} {FAMILY[digest // 11 % len(FAMILY)]}"


LANGUAGES = ("en", "hi", "ta")  # the contract's
# What a phone's browser sends in each language (the app's sign-in asks for its code with it).
ACCEPT_LANGUAGE = {"en": "en-IN,en;q=0.9", "hi": "hi-IN,hi;q=0.9,en;q=0.8", "ta": "ta-IN,ta;q=0.9,en;q=0.8"}


def language_of(label: str) -> str:
    """A name in Devanagari reads Hindi, one in Tamil Tamil; of those in Latin letters, half English, a quarter
    Hindi, a quarter Tamil (many who write their name in Latin letters read their SMS in their own language)."""
    name = name_of(label)
    if name in DEVANAGARI:
        return "hi"
    if name in TAMIL:
        return "ta"
    return ("en", "en", "hi", "ta")[_digest(label) // 13 % 4]


def phone_of(label: str) -> str | None:
    """About half the patients at the desk give a mobile number (E.164, India's +91)."""
    digest = _digest(label)
    return f"+9198{digest % 10**8:08d}" if digest % 2 == 0 else None


def mobile_of(label: str) -> str:
    """An app user's own mobile number, which they sign in with: one per patient, none a desk patient's."""
    return f"+9197{_digest(label) % 10**8:08d}"
