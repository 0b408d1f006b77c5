"""The contract's languages (version 3, "Languages"): what a doctor speaks, and what a patient's SMS are written in."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    EN = "en"  # English
    HI = "hi"  # Hindi
    TA = "ta"  # Tamil


def preferred(accept_language: str | None) -> Language | None:
    """The contract's language an `Accept-Language` header prefers most (RFC 9110: by `q`, then as listed; `hi-IN`
    is `hi`), or None when it names none of them. A malformed `q` counts as 0: that range is not wanted."""
    ranked: list[tuple[float, int, Language]] = []
    for place, item in enumerate((accept_language or "").split(",")[:32]):  # a header's first 32 ranges
        tag, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        primary = tag.split("-", 1)[0].lower()
        if primary in _CODES and 0 < weight <= 1:
            ranked.append((-weight, place, Language(primary)))
    return min(ranked)[2] if ranked else None


_CODES = frozenset(language.value for language in Language)
