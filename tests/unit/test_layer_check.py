"""The built layer's binaries must be for Lambda's arm64: the check reads ELF headers and names."""

from __future__ import annotations

from pathlib import Path

import pydantic_core

from devserver.layer_check import foreign, machine_of, main


def elf(path: Path, machine: int) -> Path:
    """A 64-bit little-endian ELF header for `machine`, as far as the check reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44))
    return path


def test_reads_the_machine_from_a_real_extension_module() -> None:
    # This machine's own pydantic_core, whatever it is built for: the reader agrees with the file name.
    module = next(Path(pydantic_core.__file__).parent.glob("_pydantic_core*.so"))
    machine = machine_of(module)
    assert machine is not None
    assert machine in module.name


def test_an_aarch64_layer_passes(tmp_path: Path) -> None:
    elf(tmp_path / "python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so", 183)
    elf(tmp_path / "python/bson/_cbson.cpython-313-aarch64-linux-gnu.so", 183)
    (tmp_path / "python/opd").mkdir()
    (tmp_path / "python/opd/__init__.py").write_text("")
    assert foreign(tmp_path, "aarch64") == []
    assert main([str(tmp_path)]) == 0


def test_an_x86_64_binary_fails_the_check(tmp_path: Path) -> None:
    elf(tmp_path / "python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so", 183)
    elf(tmp_path / "python/wrapt/_wrappers.cpython-313-x86_64-linux-gnu.so", 62)
    assert foreign(tmp_path, "aarch64") == ["python/wrapt/_wrappers.cpython-313-x86_64-linux-gnu.so: built for x86_64"]
    assert main([str(tmp_path)]) == 1


def test_a_name_for_another_architecture_fails_even_with_the_right_header(tmp_path: Path) -> None:
    elf(tmp_path / "python/lib/libfoo.x86_64.so.1", 183)
    assert foreign(tmp_path, "aarch64") == ["python/lib/libfoo.x86_64.so.1: named for another architecture"]


def test_a_layer_without_binaries_is_not_a_built_layer(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    assert main([str(tmp_path)]) == 1
    assert main([str(tmp_path / "missing")]) == 2
