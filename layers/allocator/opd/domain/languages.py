"""The contract's languages (version 3, "Languages"): what a doctor speaks, and what a patient's SMS are written in.

`Language` is the one list of them: a language more is a line here and its catalog (`opd.catalogs`; README,
"Languages (issue 21)"). The API's enums, the settings' DEFAULT_LANGUAGE and the catalogs loaded follow it.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Language(StrEnum):
    EN = "en"  # English
    HI = "hi"  # Hindi
    TA = "ta"  # Tamil


MAX_RANGES = 32  # an Accept-Language header's ranges read: a header is the client's, and may be long
# RFC 9110, 12.4.2: a weight is 0 to 1 with at most 3 decimals ("q=0.8"); anything else is malformed.
_WEIGHT = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


def ranges(accept_language: str | None) -> list[str]:
    """The language ranges an `Accept-Language` header (RFC 9110, 12.5.4) accepts, most wanted first: by weight
    (`q`, 1 where none is given), then as listed. A range of weight 0 is not wanted, a malformed weight counts as 0,
    and `*` (any language) is left out: it chooses none of ours over another."""
    weighed: list[tuple[float, int, str]] = []
    for place, item in enumerate((accept_language or "").split(",")[:MAX_RANGES]):
        tag, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _WEIGHT.fullmatch(value) else 0.0
        if tag and tag != "*" and weight > 0:
            weighed.append((-weight, place, tag))
    return [tag for _, _, tag in sorted(weighed)]
