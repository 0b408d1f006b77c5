"""The patient register's record in pure code: each field's rules and bounds, and the keys a search finds a
patient by (Latin with accents, Devanagari, Tamil, phones) and the one key a desk's query looks up."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from opd.domain.languages import Language
from opd.domain.model import ID_PATTERN
from opd.domain.patients import (
    MAX_PREFIX,
    Patient,
    Sex,
    amend,
    fold,
    new_patient_id,
    register,
    search_key,
    search_keys,
)
from opd.errors import ValidationFailed

NOW = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 22, 4, 30, tzinfo=UTC)
THIS_YEAR = 2026


def fields_named(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [d["field"] for d in exc.value.details]


def refused(body: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        register("pt-1", {"name": "Asha", **body}, NOW, THIS_YEAR)
    return fields_named(exc)


def patient(name: str | None, phone: str | None = None) -> Patient:
    return Patient("pt-1", name, NOW, NOW, phone=phone)


def name_keys(name: str) -> list[str]:
    return [key.removeprefix("n:") for key in search_keys(patient(name)) if key.startswith("n:")]


# -- registering and amending ------------------------------------------------------------------------------


def test_a_registration_with_every_field() -> None:
    body: dict[str, object] = {
        "name": "Ravi Kumar",
        "phone": "+919876543210",
        "yearOfBirth": 1984,
        "sex": "M",
        "language": "ta",
        "abhaAddress": "ravi.kumar@sbx",
    }
    made = register("pt-1", body, NOW, THIS_YEAR)
    assert made == Patient("pt-1", "Ravi Kumar", NOW, NOW, "+919876543210", 1984, Sex.M, Language.TA, "ravi.kumar@sbx")


def test_a_registration_needs_a_name_and_nothing_else() -> None:
    assert register("pt-1", {"name": "Asha"}, NOW, THIS_YEAR) == Patient("pt-1", "Asha", NOW, NOW)
    with pytest.raises(ValidationFailed) as exc:
        register("pt-1", {"phone": "+919876543210"}, NOW, THIS_YEAR)
    assert fields_named(exc) == ["name"]


def test_every_bad_field_is_named_at_once_and_an_unknown_one_too() -> None:
    body = {"phone": "98765", "yearOfBirth": 1899, "sex": "X", "language": "fr", "abhaAddress": "x", "age": 40}
    assert refused(body) == ["phone", "yearOfBirth", "sex", "language", "abhaAddress", "age"]


def test_amending_changes_only_what_is_given_and_null_makes_a_field_unknown() -> None:
    before = register("pt-1", {"name": "Asha", "phone": "+919876543210", "sex": "F"}, NOW, THIS_YEAR)
    after = amend(before, {"phone": None, "yearOfBirth": 1990}, LATER, THIS_YEAR)
    assert after == Patient("pt-1", "Asha", NOW, LATER, None, 1990, Sex.F)


def test_a_name_once_given_cannot_be_taken_away() -> None:
    before = Patient("pt-1", None, NOW, NOW, phone="+919876543210")  # signed in by phone, no name yet
    assert amend(before, {"name": "Meena"}, LATER, THIS_YEAR).name == "Meena"
    with pytest.raises(ValidationFailed) as exc:
        amend(before, {"name": None}, LATER, THIS_YEAR)
    assert fields_named(exc) == ["name"]


# -- each field and its bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, kept",
    [
        ("  Ravi   Kumar ", "Ravi Kumar"),  # surrounding spaces off, a run of spaces one
        ("D’Souza", "D'Souza"),  # a tablet's typographic apostrophe
        ("Ra\u0304ma", "R\u0101ma"),  # NFC: a + combining macron is ā
        ("राहुल शर्मा", "राहुल शर्मा"),
        ("முருகன் செல்வம்", "முருகன் செல்வம்"),
        ("क्\u200dष", "क्\u200dष"),  # a joiner choosing a conjunct's form stays
        ("A. R. Rahman", "A. R. Rahman"),
        ("Anne-Marie O'Neil", "Anne-Marie O'Neil"),
        ("x", "x"),
        ("x" * 80, "x" * 80),
        ("म" * 80, "म" * 80),
    ],
)
def test_names_in_any_script_are_kept_tidied(given: str, kept: str) -> None:
    assert register("pt-1", {"name": given}, NOW, THIS_YEAR).name == kept


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 81, "म" * 81, "Ravi2", "R@vi", "Ravi\nKumar", "Ravi\u202eKumar", "१२३", "...", None, 42],
)
def test_names_that_are_not_a_name_are_refused(name: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        register("pt-1", {"name": name}, NOW, THIS_YEAR)
    assert fields_named(exc) == ["name"]


@pytest.mark.parametrize("phone", ["+919876543210", "+4420794600", "+123456789012345", None])
def test_phones_in_e164_are_kept(phone: str | None) -> None:
    assert register("pt-1", {"name": "Asha", "phone": phone}, NOW, THIS_YEAR).phone == phone


@pytest.mark.parametrize(
    "phone", ["9876543210", "+91 98765 43210", "+0919876543", "+1234567890123456", "+12345", 9876543210]
)
def test_phones_not_in_e164_are_refused(phone: object) -> None:
    assert refused({"phone": phone}) == ["phone"]


@pytest.mark.parametrize("year", [1900, 1984, THIS_YEAR, None])
def test_years_of_birth_from_1900_to_this_year(year: int | None) -> None:
    assert register("pt-1", {"name": "Asha", "yearOfBirth": year}, NOW, THIS_YEAR).year_of_birth == year


@pytest.mark.parametrize("year", [1899, THIS_YEAR + 1, "1984", 1984.0, True])
def test_years_of_birth_outside_or_not_a_year_are_refused(year: object) -> None:
    assert refused({"yearOfBirth": year}) == ["yearOfBirth"]


def test_this_year_is_the_callers() -> None:
    assert register("pt-1", {"name": "Asha", "yearOfBirth": 2027}, NOW, 2027).year_of_birth == 2027
    with pytest.raises(ValidationFailed):
        register("pt-1", {"name": "Asha", "yearOfBirth": 2027}, NOW, 2026)


@pytest.mark.parametrize("sex", ["F", "M", "O", "U"])
def test_the_four_sexes(sex: str) -> None:
    assert register("pt-1", {"name": "Asha", "sex": sex}, NOW, THIS_YEAR).sex == Sex(sex)


@pytest.mark.parametrize("sex", ["f", "X", "", "FEMALE", 1])
def test_other_sexes_are_refused(sex: object) -> None:
    assert refused({"sex": sex}) == ["sex"]


@pytest.mark.parametrize("language", ["en", "hi", "ta"])
def test_the_contracts_languages(language: str) -> None:
    assert register("pt-1", {"name": "Asha", "language": language}, NOW, THIS_YEAR).language == Language(language)


@pytest.mark.parametrize("language", ["EN", "fr", "mr", "", None])
def test_other_languages_are_refused_and_null_is_none(language: str | None) -> None:
    if language is None:
        assert register("pt-1", {"name": "Asha", "language": None}, NOW, THIS_YEAR).language is None
    else:
        assert refused({"language": language}) == ["language"]


@pytest.mark.parametrize(
    "given, kept",
    [
        ("ravi.kumar@sbx", "ravi.kumar@sbx"),
        ("Ravi_Kumar@ABDM", "ravi_kumar@abdm"),  # ABDM reads addresses without regard to case
        ("a@b", "a@b"),  # 3 characters
        ("r" * 55 + "@abdm", "r" * 55 + "@abdm"),  # 60
    ],
)
def test_abha_addresses_are_kept_in_lower_case(given: str, kept: str) -> None:
    assert register("pt-1", {"name": "Asha", "abhaAddress": given}, NOW, THIS_YEAR).abha_address == kept


@pytest.mark.parametrize(
    "address", ["@b", "ab", "r" * 56 + "@abdm", "ravi kumar@sbx", "ravi@", "ravi@@sbx", ".ravi@sbx", "ravi.@sbx", 7]
)
def test_what_is_not_an_abha_address_is_refused(address: object) -> None:
    assert refused({"abhaAddress": address}) == ["abhaAddress"]


def test_new_patient_ids_are_ids_and_differ() -> None:
    made = {new_patient_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(ID_PATTERN.fullmatch(i) and i.startswith("pt-") for i in made)


# -- search keys -------------------------------------------------------------------------------------------


def test_each_word_by_its_starts_of_two_letters_or_more() -> None:
    assert name_keys("Ravi Kumar") == ["ra", "rav", "ravi", "ku", "kum", "kuma", "kumar"]


def test_latin_accents_and_case_are_folded_away() -> None:
    assert name_keys("Rāmakṛṣṇa ŚARMĀ") == name_keys("ramakrsna sarma")
    assert "ramakrsna" in name_keys("Rāmakṛṣṇa") and "sarma" in name_keys("Śarmā")
    assert fold("Ｒａｖｉ") == "ravi"  # NFKD: full-width letters are letters


def test_devanagari_keeps_its_vowel_signs_and_viramas() -> None:
    assert name_keys("कृष्ण कुमार") == ["कृ", "कृष", "कृष्", "कृष्ण", "कु", "कुम", "कुमा", "कुमार"]
    # a vowel sign changes the letter: "कि" (ki) does not find "कुमार" (kumar)
    assert "कि" not in name_keys("कुमार") and "क" + "ि" in name_keys("किरण")


def test_tamil_keeps_its_vowel_signs_and_two_part_ones_are_one_however_typed() -> None:
    assert name_keys("முருகன்") == ["மு", "முர", "முரு", "முருக", "முருகன", "முருகன்"]
    typed_in_two = "க\u0bc6\u0bbeபால்"  # ொ typed as ெ + ா
    assert name_keys("கொபால்") == name_keys(typed_in_two)
    assert name_keys("கொபால்")[0] == "க\u0bca"
    assert "க\u0bc6" not in name_keys("கொபால்")  # "கெ" (ke) is not the start of "கொ" (ko)


def test_joiners_are_no_part_of_a_key() -> None:
    assert name_keys("क्\u200dष") == name_keys("क्ष")


def test_words_part_at_spaces_dots_dashes_and_apostrophes() -> None:
    assert name_keys("A.R. Anne-Marie") == ["an", "ann", "anne", "ma", "mar", "mari", "marie"]
    assert name_keys("D'Souza") == ["so", "sou", "souz", "souza", "ds", "dso", "dsou", "dsouz", "dsouza"]


def test_a_long_name_makes_a_bounded_number_of_keys() -> None:
    assert name_keys("a" * 80) == ["a" * n for n in range(2, MAX_PREFIX + 1)]
    contrived = " ".join(["u'vwxyzabcdefgh"] * 5)[:80]
    assert len(search_keys(patient(contrived, "+123456789012345"))) < 150


def test_a_phone_by_its_last_four_digits_or_more() -> None:
    keys = search_keys(patient(None, "+919876543210"))
    assert keys == [f"p:{'919876543210'[-n:]}" for n in range(4, 13)]


def test_name_and_phone_keys_never_meet() -> None:
    keys = search_keys(patient("Asha", "+919876543210"))
    assert "n:as" in keys and "p:3210" in keys
    assert search_key("3210") != search_key("as")


def test_a_patient_without_name_or_phone_has_no_keys() -> None:
    assert search_keys(patient(None)) == []


# -- the query ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q, key",
    [
        ("ra", "n:ra"),
        ("RĀM", "n:ram"),
        ("  kumar ", "n:kumar"),
        ("कृष", "n:कृष"),
        ("க\u0bc6\u0bbe", "n:க\u0bca"),
        ("d'sou", "n:dsou"),
        ("D’Souza", "n:dsouza"),
        ("ku ravi", "n:ravi"),  # of several words, the longest
        ("x" * 64, "n:" + "x" * MAX_PREFIX),  # past a key's length, its first 16 characters
        (" " + "x" * 64 + " ", "n:" + "x" * MAX_PREFIX),  # surrounding spaces not counted
        ("3210", "p:3210"),
        ("+91 98765-43210", "p:919876543210"),
        ("98765 43210", "p:9876543210"),
    ],
)
def test_what_the_desk_types_becomes_the_key_the_patient_has(q: str, key: str) -> None:
    assert search_key(q) == key


def test_every_start_the_desk_may_type_finds_the_name() -> None:
    for name in ("Rāmakṛṣṇa Śarmā", "कृष्ण कुमार", "முருகன் செல்வம்"):
        keys = set(search_keys(patient(name)))
        for word in name.split():
            typed = unicodedata.normalize("NFC", word)
            for n in range(2, len(typed) + 1):
                assert search_key(typed[:n].upper()) in keys, (name, typed[:n])


@pytest.mark.parametrize("q", ["", "a", " a ", "x" * 65])
def test_a_query_of_fewer_than_2_or_more_than_64_characters_is_refused(q: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        search_key(q)
    assert fields_named(exc) == ["q"]


@pytest.mark.parametrize("q", ["123", "a b", "--", "12-3"])
def test_a_query_with_neither_two_letters_of_a_word_nor_four_digits_is_refused(q: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        search_key(q)
    assert fields_named(exc) == ["q"]
