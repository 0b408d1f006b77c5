"""The SMS catalogs (contract, "Languages"): one per language, each with every key, the same placeholders, no empty
or draft text, in its own script with digits 0-9; and each SMS, in each language, within its cost model's parts."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.sms_cost import KINDS, SIGN_IN_KIND, render
from devserver.template import load_template
from opd import catalogs
from opd.domain import Language
from opd.messages import GSM7, MESSAGES, SIGN_IN_CODE, UCS2, parts, size

ROOT = Path(__file__).resolve().parents[2]
KEYS = {*MESSAGES.values(), SIGN_IN_CODE}
FIELDS = {"doctor", "date", "start", "token", "time", "minutes", "code"}  # what the notifier and trigger fill
# Each script's letters, and its own digits, which an SMS never uses (digits stay 0-9).
SCRIPTS = {Language.HI: ("\u0900", "\u097f"), Language.TA: ("\u0b80", "\u0bff")}
NATIVE_DIGITS = {Language.HI: "०१२३४५६७८९", Language.TA: "௦௧௨௩௪௫௬௭௮௯"}
GSM7_LANGUAGES = {Language.EN}  # written in GSM 03.38 alone: one SMS part holds 160 characters

# The cost model: the parts each SMS is sent as, at most, with its status link and the usual doctor's name (the
# samples of benchmarks/sms_cost.py). English stays GSM-7, one part; a Devanagari or Tamil SMS is UCS-2 (70 in one
# part, 67 a part once split), and the ~67 characters of the link alone take a part: two parts, three for the
# longest (a leave's cancellation; a reschedule in Tamil). A sign-in code has no link: one part in every language.
UCS2_PARTS = dict.fromkeys(KINDS, 2) | {"BookingCancelled (DOCTOR_UNAVAILABLE)": 3, SIGN_IN_KIND: 1}
PARTS = {
    Language.EN: dict.fromkeys(KINDS, 1),
    Language.HI: UCS2_PARTS,
    Language.TA: UCS2_PARTS | {"BookingRescheduled": 3},
}  # a language added to the list: UCS2_PARTS, as Hindi's
# A long name (27 characters), a token and a delay at their largest: one part more at most, never a fourth.
LONGEST_NAME = "Dr Venkataraman Subramaniam"


def placeholders(text: str) -> set[str]:
    """The fields a str.format text names; AssertionError for a conversion or a format spec (none is filled)."""
    found = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            assert not spec and conversion is None, text
            found.add(name)
    return found


def test_every_language_has_a_catalog_and_every_catalog_is_a_language() -> None:
    assert {path.name for path in catalogs.LOCALES.iterdir() if path.is_dir()} == {code.value for code in Language}
    assert all(catalogs.path_of(language).is_file() for language in Language)


@pytest.mark.parametrize("language", list(Language))
def test_every_catalog_has_every_key_and_no_other(language: Language) -> None:
    assert catalogs.keys(language) == KEYS


@pytest.mark.parametrize("language", list(Language))
def test_no_text_is_empty_or_a_draft(language: Language) -> None:
    for message in catalogs.catalog(language):
        if message.id:
            assert isinstance(message.string, str) and message.string.strip() == message.string != "", message.id
            assert "fuzzy" not in message.flags, message.id  # a translation marked for review is not sent


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_placeholder_survives_in_every_language(key: str) -> None:
    source = placeholders(catalogs.template(key, catalogs.SOURCE))
    assert source and source <= FIELDS
    for language in Language:
        assert placeholders(catalogs.template(key, language)) == source, (key, language)
    assert placeholders(catalogs.template(SIGN_IN_CODE, Language.EN)) == {"code", "minutes"}


@pytest.mark.parametrize("language", list(Language))
def test_each_language_is_in_its_own_script_with_digits_0_to_9(language: Language) -> None:
    for key in KEYS:
        text = catalogs.template(key, language)
        if language in SCRIPTS:
            first, last = SCRIPTS[language]
            assert any(first <= character <= last for character in text), (key, text)
            assert not set(text) & set(NATIVE_DIGITS[language]), (key, text)
            assert size(text).encoding == UCS2
        if language in GSM7_LANGUAGES:
            assert size(text).encoding == GSM7, (key, text)  # one character outside GSM 03.38 would make it UCS-2


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_sms_fits_its_cost_model(kind: str, language: Language) -> None:
    text = render(kind, language)
    assert parts(text) <= PARTS.get(language, UCS2_PARTS)[kind], (text, size(text))
    if KINDS[kind][1]:
        assert text.endswith(" https://d111111abcdef8.cloudfront.net/status.html#q3Vw9Zb1Kx0Tt7Lm")
    longest = {"doctor": LONGEST_NAME, "date": "31/12", "start": "23:55", "token": 450, "time": "23:59"}
    key, linked = KINDS[kind]
    filled = catalogs.template(key, language).format(**longest, minutes=1440, code="999999")
    link = " https://d111111abcdef8.cloudfront.net/status.html#" + "x" * 16 if linked else ""
    most = 1 if not linked else 2 if language in GSM7_LANGUAGES else 3
    assert parts(filled + link) <= most, filled


def test_a_key_a_catalog_lacks_is_the_source_s_and_one_none_has_is_a_key_error() -> None:
    hindi = catalogs.catalog(Language.HI)
    kept = hindi["BookingCalled"]
    del hindi["BookingCalled"]
    try:
        assert catalogs.template("BookingCalled", Language.HI) == catalogs.template("BookingCalled", Language.EN)
    finally:
        hindi[kept.id] = kept
    assert catalogs.template("BookingCalled", Language.HI).startswith("OPD: टोकन {token}")
    with pytest.raises(KeyError):
        catalogs.template("NoSuchMessage", Language.TA)


def test_the_catalogs_are_read_at_first_use_not_at_import() -> None:
    """Only the notifier and the code's trigger send SMS: importing the modules (every route does, through the
    handlers' imports) loads no Babel; the first text does, and reads the catalogs."""
    script = (
        "import json, sys\n"
        "from opd import catalogs, messages, sms\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'babel')\n"
        "text = messages.sign_in_text('123456', 5, 'ta')\n"
        "print(json.dumps([before, 'babel.messages.pofile' in sys.modules, text]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "allocator")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [[], True, "OPD: உள்நுழைவு குறியீடு 123456. 5 நிமிடம் செல்லும். பகிர வேண்டாம்."]


def test_the_templates_default_language_is_one_of_the_languages() -> None:
    """DefaultLanguage may be any of the Language list that the template allows (a language added to the list is
    a deployment's default once it is added there too: README, "Languages (issue 21)"), and nothing else."""
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["DefaultLanguage"]
    assert set(parameter["AllowedValues"]) <= set(Language) and parameter["Default"] in parameter["AllowedValues"]
    assert {"en", "hi", "ta"} <= set(parameter["AllowedValues"])
