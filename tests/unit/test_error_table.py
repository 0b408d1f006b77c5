"""The one table of errors: every domain error once, with its status and whether it is final."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from opd import errors as domain_errors
from opd.api import errors
from opd.errors import (
    DependencyUnavailable,
    InvalidCode,
    OpdError,
    OutcomeUnknown,
    SlotBusy,
    SlotFull,
    TooManyCodes,
)


def every_error_class() -> list[type[OpdError]]:
    found: list[type[OpdError]] = [OpdError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


def test_every_error_code_has_exactly_one_entry() -> None:
    # A subclass that keeps its parent's code (e.g. OutcomeUnknown, a DependencyUnavailable that
    # says more) is answered as its parent; one that has a code of its own needs its own entry.
    own_code = {
        cls for cls in every_error_class() if cls is OpdError or cls.code != getattr(cls.__bases__[0], "code", None)
    }
    assert set(domain_errors.ERRORS) == own_code
    codes = [cls.code for cls in domain_errors.ERRORS]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    assert tuple(codes) == errors.CODES


def test_every_error_class_of_the_domain_module_is_covered() -> None:
    declared = {
        value for value in vars(domain_errors).values() if isinstance(value, type) and issubclass(value, OpdError)
    }
    assert {cls.code for cls in declared} <= set(errors.CODES)


def test_the_derived_views() -> None:
    assert [error for error, kind in domain_errors.ERRORS.items() if kind.transient] == [
        SlotBusy,
        TooManyCodes,
        DependencyUnavailable,
    ]
    assert errors.status_of(SlotFull.code) is HTTPStatus.CONFLICT
    assert errors.status_of(SlotBusy.code) is HTTPStatus.TOO_MANY_REQUESTS
    assert errors.status_of(TooManyCodes.code) is HTTPStatus.TOO_MANY_REQUESTS
    assert errors.status_of(InvalidCode.code) is HTTPStatus.UNAUTHORIZED
    assert errors.status_of(DependencyUnavailable.code) is HTTPStatus.SERVICE_UNAVAILABLE
    assert errors.status_of(OpdError.code) is HTTPStatus.INTERNAL_SERVER_ERROR
    assert errors.status_of("NO_SUCH_CODE") is HTTPStatus.INTERNAL_SERVER_ERROR


def test_an_unknown_outcome_is_a_503_whose_details_say_so() -> None:
    assert errors.status_of(OutcomeUnknown.code) is HTTPStatus.SERVICE_UNAVAILABLE
    assert OutcomeUnknown("mongo", "m").details == [{"dependency": "mongo", "outcome": "UNKNOWN"}]
    known = OutcomeUnknown("redis", "m", {"rescheduledTo": "slot-b.x"})
    assert (known.dependency, known.details) == (
        "redis",
        [{"dependency": "redis", "outcome": "UNKNOWN", "rescheduledTo": "slot-b.x"}],
    )


@pytest.mark.parametrize("cls", [cls for cls, kind in domain_errors.ERRORS.items() if not kind.transient])
def test_a_remembered_final_refusal_comes_back_as_its_class(cls: type[OpdError]) -> None:
    refusal = domain_errors.refusal(cls.code, "no", [{"field": "x"}])
    assert type(refusal) is cls
    assert (refusal.message, refusal.details) == ("no", [{"field": "x"}])


@pytest.mark.parametrize("code", [SlotBusy.code, DependencyUnavailable.code, "NO_SUCH_CODE"])
def test_what_is_never_remembered_comes_back_as_an_internal_error(code: str) -> None:
    assert type(domain_errors.refusal(code, "?", [])) is OpdError
