"""The pages' catalogs (web/i18n-<code>.json, issue 21): one per language of web/i18n.js's LANGUAGES, every key in
every language with the same placeholders, no empty text, each language in its own script, digits 0-9 only, and
every key the pages name is in them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SCRIPTS = {"hi": re.compile(r"[\u0900-\u097f]"), "ta": re.compile(r"[\u0b80-\u0bff]")}
# Devanagari, Tamil and other native digits: the pages write 0-9 in every language.
NATIVE_DIGITS = re.compile(
    r"[\u0966-\u096f\u0be6-\u0bef\u09e6-\u09ef\u0ae6-\u0aef\u0c66-\u0c6f\u0ce6-\u0cef\u0d66-\u0d6f]"
)


def listed_languages() -> list[str]:
    """The codes of i18n.js's LANGUAGES, one line each."""
    source = (WEB / "i18n.js").read_text(encoding="utf-8")
    block = source.split("export const LANGUAGES = [", 1)[1].split("];", 1)[0]
    return re.findall(r'\{\s*code:\s*"([a-z]{2,3})"', block)


def catalog(code: str) -> dict[str, str]:
    loaded = json.loads((WEB / f"i18n-{code}.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), code
    return loaded


LANGUAGES = listed_languages()
OTHERS = [code for code in LANGUAGES if code != "en"]


def test_the_list_names_the_three_languages_and_each_has_a_catalog_and_no_catalog_is_unlisted() -> None:
    assert LANGUAGES[:3] == ["en", "hi", "ta"]
    on_disk = sorted(path.stem.removeprefix("i18n-") for path in WEB.glob("i18n-*.json"))
    assert on_disk == sorted(LANGUAGES)


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_text_is_a_non_empty_string_without_native_digits(code: str) -> None:
    for key, text in catalog(code).items():
        assert isinstance(text, str) and text.strip(), (code, key)
        assert text == text.strip(), (code, key, "leading or trailing space")
        assert not NATIVE_DIGITS.search(text), (code, key, text)


@pytest.mark.parametrize("code", OTHERS)
def test_every_key_is_in_every_language_with_the_same_placeholders(code: str) -> None:
    english, other = catalog("en"), catalog(code)
    assert sorted(set(english) - set(other)) == [], f"missing in {code}"
    assert sorted(set(other) - set(english)) == [], f"in {code} only"
    for key, text in english.items():
        assert sorted(PLACEHOLDER.findall(other[key])) == sorted(PLACEHOLDER.findall(text)), (code, key, other[key])


@pytest.mark.parametrize("code", [code for code in OTHERS if code in SCRIPTS])
def test_each_text_is_written_in_its_languages_script(code: str) -> None:
    """A text with words (beyond its placeholders) has letters of the language's script: none left in English."""
    for key, text in catalog(code).items():
        words = PLACEHOLDER.sub("", text)
        if re.search(r"[^\W\d_]", words):
            assert SCRIPTS[code].search(words), (code, key, text)


def keys_named_by_the_pages() -> set[str]:
    """The keys the pages name literally: t("..."), tn("..."), data-i18n="..." and its -label/-placeholder."""
    found: set[str] = set()
    for script in WEB.glob("*.js"):
        found |= set(re.findall(r'\btn?\(\s*"([\w.]+)"', script.read_text(encoding="utf-8")))
    for page in WEB.glob("*.html"):
        found |= set(re.findall(r'data-i18n(?:-label|-placeholder)?="([\w.]+)"', page.read_text(encoding="utf-8")))
    return found


def test_every_key_the_pages_name_is_in_the_catalog() -> None:
    english = catalog("en")
    plural_bases = {key.rsplit(".", 1)[0] for key in english if key.endswith((".one", ".other"))}
    named = keys_named_by_the_pages()
    assert len(named) > 50, named  # the search itself works
    missing = sorted(key for key in named if key not in english and key not in plural_bases)
    assert missing == []


def test_the_keys_the_pages_build_are_in_the_catalog() -> None:
    """Keys made from a value: status.<status>, app.cancelAsk.<kind>, app.cancelled.<kind>, the plural forms."""
    english = catalog("en")
    built = [f"status.{s}" for s in ("BOOKED", "CHECKED_IN", "COMPLETED", "NO_SHOW")]
    built += [f"app.{what}.{kind}" for what in ("cancelAsk", "cancelled") for kind in ("token", "waitlist")]
    for base in ("position.before", "app.slot.free", "app.slots.heading", "board.waiting"):
        built += [f"{base}.one", f"{base}.other"]
    assert [key for key in built if key not in english] == []


def test_the_error_codes_a_patient_meets_have_their_words() -> None:
    english = catalog("en")
    codes = [
        "INVALID_CODE",
        "TOO_MANY_CODES",
        "SLOT_FULL",
        "WAITLIST_FULL",
        "DUPLICATE_BOOKING",
        "SLOT_CLOSED",
        "NOT_FOUND",
        "UNAUTHORIZED",
        "INVALID_TRANSITION",
        "IDEMPOTENCY_CONFLICT",
    ]
    others = ["network", "timeout", "busy", "unavailable", "unavailablePartWay", "failed", "refused", "other"]
    assert [key for key in codes + others if f"error.{key}" not in english] == []
