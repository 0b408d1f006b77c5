"""pytest imports test modules by their basename (the test folders are not packages): two files of one name in two
folders make the second one's collection fail ("import file mismatch"), and only in a run that collects both."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_name_of_its_own() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if "node_modules" not in path.parts)
    assert [name for name, n in names.items() if n > 1] == []
