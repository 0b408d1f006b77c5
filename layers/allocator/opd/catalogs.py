"""The texts patients are sent, by language: gettext catalogs (PO files), read through Babel.

One catalog per language of `opd.domain.languages.Language`, at `opd/locales/<code>/LC_MESSAGES/messages.po`,
inside the layer, so `sam build` ships them with the code (layers/allocator/Makefile copies `opd/`). Monolingual:
a msgid is the message's key (`BookingCreated`, `BookingCancelled.DOCTOR_UNAVAILABLE`, `SignInCode`), its msgstr
the text, a `str.format` template; English is a catalog like the others, the source whose keys and placeholders
every other has (tests/unit/test_catalogs.py). So a hospital rewords or translates its SMS in catalogs, with any
PO editor (Poedit, Weblate's monolingual gettext), never in code; a fourth language is a catalog and one line of
`Language` (README, "Languages (issue 21)"). `preferred` chooses among them by a request's Accept-Language.

The PO files are read as they are, with `babel.messages.pofile.read_po`: no compile step, so no `.mo` file to
build, ship or forget. They are read at first use, not at import: only the SMS notifier and the sign-in code's
trigger need them, and no route function loads Babel. That first use costs ~15 ms (Babel's modules and the three
files; README, "Languages (issue 21)"), once per execution environment.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from opd.domain.languages import Language, ranges

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

LOCALES = Path(__file__).with_name("locales")
DOMAIN = "messages"
SOURCE = Language.EN  # the catalog the others translate, and the text of a key a catalog lacks


def path_of(language: str) -> Path:
    """Where the catalog of `language` (a code) is."""
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(language: Language) -> Catalog:
    """The catalog of `language`, read once per execution environment."""
    from babel.messages.pofile import read_po

    with path_of(language.value).open("rb") as file:
        return read_po(file, domain=DOMAIN, abort_invalid=True)


def template(key: str, language: Language) -> str:
    """The text of `key` in `language`: a `str.format` template. A key the language's catalog lacks, or leaves
    empty, is the source's (the tests keep every catalog whole); KeyError for a key no catalog has."""
    for tried in (language, SOURCE):
        message = catalog(tried).get(key)
        if message is not None and isinstance(message.string, str) and message.string:
            return message.string
    raise KeyError(key)


def preferred(accept_language: str | None) -> Language | None:
    """The language of ours an `Accept-Language` header prefers (`hi-IN` is `hi`, `en-GB,hi;q=0.8` is `en`), or None
    where it names none of them: its ranges by weight (`domain.languages.ranges`), matched by Babel's
    `negotiate_locale` (a range's own tag, else its primary language)."""
    wanted = ranges(accept_language)
    if not wanted:
        return None
    from babel.core import negotiate_locale

    found = negotiate_locale(wanted, [language.value for language in Language], sep="-")
    return None if found is None else Language(found.partition("-")[0].lower())


def keys(language: Language) -> set[str]:
    """The message keys of a catalog (its header aside)."""
    return {str(message.id) for message in catalog(language) if message.id}
