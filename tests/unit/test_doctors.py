"""The doctor directory's record (contract, "People"): each field's bounds, any script, the languages."""

from __future__ import annotations

import unicodedata

import pytest

from opd.domain import MAX_DEPARTMENT, MAX_DOCTOR_NAME, MAX_ROOM, Doctor, Language, department_of
from opd.errors import ValidationFailed


def refused_fields(**fields: object) -> list[str]:
    """The fields a record made from `fields` (over a valid one) is refused for, in the details' order."""
    given: dict[str, object] = {"doctor_id": "dr-rao", "name": "Dr Rao", "department": "ENT"} | fields
    with pytest.raises(ValidationFailed) as refused:
        Doctor.of(**given)  # type: ignore[arg-type]
    assert refused.value.code == "VALIDATION_ERROR"
    return [detail["field"] for detail in refused.value.details]


def test_a_doctor_as_given_with_defaults() -> None:
    doctor = Doctor.of("dr-rao", "Dr Asha Rao", "Cardiology")
    assert doctor == Doctor("dr-rao", "Dr Asha Rao", "Cardiology", room=None, languages=())
    full = Doctor.of("dr-rao", "Dr Asha Rao", "Cardiology", "OPD-12", ["ta", "en"])
    assert (full.room, full.languages) == ("OPD-12", (Language.TA, Language.EN))  # in the order given


@pytest.mark.parametrize(
    ("field", "most"), [("name", MAX_DOCTOR_NAME), ("department", MAX_DEPARTMENT), ("room", MAX_ROOM)]
)
def test_each_text_up_to_its_bound_and_not_one_more(field: str, most: int) -> None:
    assert (MAX_DOCTOR_NAME, MAX_DEPARTMENT, MAX_ROOM) == (80, 60, 20)  # the contract's bounds
    longest = Doctor.of(**{"doctor_id": "dr-rao", "name": "Dr Rao", "department": "ENT", field: "x" * most})
    assert getattr(longest, field) == "x" * most
    assert refused_fields(**{field: "x" * (most + 1)}) == [field]


@pytest.mark.parametrize("field", ["name", "department"])
@pytest.mark.parametrize("blank", ["", " ", "\t \u3000"])
def test_a_name_and_a_department_need_a_character_that_is_not_a_space(field: str, blank: str) -> None:
    assert refused_fields(**{field: blank}) == [field]


def test_one_character_is_enough() -> None:
    assert Doctor.of("dr-rao", "R", "E", "1").name == "R"


@pytest.mark.parametrize("room", [None, "", "   "])
def test_no_room_is_null(room: str | None) -> None:
    assert Doctor.of("dr-rao", "Dr Rao", "ENT", room).room is None


def test_texts_are_kept_trimmed_and_composed_and_counted_so() -> None:
    decomposed = unicodedata.normalize("NFD", "Dr Élodie Müller")
    doctor = Doctor.of("dr-m", f"  {decomposed}\u00a0", " Cardiology ", " OPD 3 ")
    assert (doctor.name, doctor.department, doctor.room) == ("Dr Élodie Müller", "Cardiology", "OPD 3")
    # 80 characters once composed, 160 code points as typed: within the bound.
    assert len(Doctor.of("dr-m", "e\u0301" * MAX_DOCTOR_NAME, "ENT").name) == MAX_DOCTOR_NAME
    assert refused_fields(name=" " + "x" * MAX_DOCTOR_NAME + "x ") == ["name"]


@pytest.mark.parametrize(
    "name",
    [
        "डॉ. आशा राव",  # Devanagari
        "மருத்துவர் செல்வி",  # Tamil
        "ডাঃ অমিত সেন",  # Bengali
        "ಡಾ. ರಾವ್",  # Kannada
        "Dr Ravi K\u200dumar",  # a zero-width joiner, as Indic scripts use it
        "क्\u200dष",  # ZWJ inside a conjunct
        "Dr. O'Brien-Nair (Retd.)",
    ],
)
def test_a_name_in_any_script(name: str) -> None:
    assert Doctor.of("dr-x", name, "General Medicine").name == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    "text",
    [
        "Dr\nRao",  # a line break
        "Dr\x00Rao",  # a control character
        "Dr \u202eoaR",  # a right-to-left override: the board would show it reversed
        "Dr \ud800",  # an unpaired surrogate (what JSON's "\ud800" becomes)
        "Dr \ue000",  # private use
        "Dr\u2028Rao",  # a line separator
    ],
)
@pytest.mark.parametrize("field", ["name", "department", "room"])
def test_what_a_screen_cannot_show_is_refused(field: str, text: str) -> None:
    assert refused_fields(**{field: text}) == [field]


@pytest.mark.parametrize("languages", [[], ["en"], ["hi", "en"], ["en", "hi", "ta"]])
def test_languages_are_the_contracts_codes(languages: list[str]) -> None:
    assert [code.value for code in Doctor.of("dr-rao", "Dr Rao", "ENT", None, languages).languages] == languages


@pytest.mark.parametrize("languages", [["fr"], ["en", "EN"], ["hindi"], [""], ["en", "en"], ["ta", "hi", "ta"]])
def test_other_languages_and_repeats_are_refused(languages: list[str]) -> None:
    assert refused_fields(languages=languages) == ["languages"]


def test_every_problem_is_named_at_once() -> None:
    assert refused_fields(doctor_id="dr rao", name="", department="x" * 61, room="1\n2") == [
        "doctorId",
        "name",
        "department",
        "room",
    ]


def test_a_record_made_directly_is_checked_too() -> None:
    # The store reads records back with the constructor: no Doctor is ever invalid, however it was made.
    with pytest.raises(ValidationFailed) as refused:
        Doctor("dr-rao", "Dr Rao", "ENT", languages=(Language.EN, Language.EN))
    assert refused.value.details == [{"field": "languages", "message": "must name each language at most once"}]
    with pytest.raises(ValidationFailed):
        Doctor("dr-rao", " Dr Rao\n", "ENT")


def test_a_department_asked_for_is_tidied_as_a_record_is() -> None:
    composed = "Médecine"
    assert department_of(f" {unicodedata.normalize('NFD', composed)} ") == composed
    for bad in ("", "  ", "x" * (MAX_DEPARTMENT + 1), "E\nT"):
        with pytest.raises(ValidationFailed) as refused:
            department_of(bad)
        assert [d["field"] for d in refused.value.details] == ["department"]


def test_each_refusal_says_what_is_wanted() -> None:
    with pytest.raises(ValidationFailed) as refused:
        Doctor.of("dr-rao", " ", "x" * 61, "x" * 21, ["en", "en"])
    assert refused.value.message == "invalid doctor: name, department, room, languages"
    assert refused.value.details == [
        {"field": "name", "message": "must hold a character that is not a space"},
        {"field": "department", "message": "must be at most 60 characters, surrounding spaces not counted"},
        {"field": "room", "message": "must be at most 20 characters, surrounding spaces not counted"},
        {"field": "languages", "message": "must name each language at most once"},
    ]
    with pytest.raises(ValidationFailed) as unknown:
        Doctor.of("dr-rao", "Dr Rao", "ENT", None, ["en", "fr"])
    assert unknown.value.details == [{"field": "languages", "message": "must be a list of the codes en, hi, ta"}]
