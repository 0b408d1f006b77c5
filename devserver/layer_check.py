"""What `sam build` made of the layer: every native binary in it is for Lambda's architecture.

The layer is built on any machine (layers/allocator/Makefile asks pip for aarch64 wheels), so nothing
at build time runs its binaries; this check reads them instead. A binary counts as foreign when its
ELF header names another machine, or its file name another architecture (`*-x86_64-linux-gnu.so`).
`make sam-build` runs it on .aws-sam/build/AllocatorLayer and fails the build on any foreign binary.

    .venv/bin/python -m devserver.layer_check [.aws-sam/build/AllocatorLayer] [--arch aarch64]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

# ELF e_machine values (the 2 bytes at offset 18, little-endian on both of Lambda's architectures).
MACHINES = {62: "x86_64", 183: "aarch64"}
# How each architecture appears in an extension module's name (PEP 3149 tags, wheel platform tags).
NAME_TAGS = {"x86_64": ("x86_64", "amd64"), "aarch64": ("aarch64", "arm64")}
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class Binary:
    path: Path
    machine: str  # from the ELF header: "x86_64", "aarch64", or "e_machine <n>"


def machine_of(path: Path) -> str | None:
    """The machine an ELF file is built for, or None when the file is not ELF."""
    with path.open("rb") as file:
        header = file.read(20)
    if len(header) < 20 or not header.startswith(ELF_MAGIC):
        return None
    number = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return MACHINES.get(number, f"e_machine {number}")


def binaries(root: Path) -> list[Binary]:
    """Every ELF file under `root` (extension modules and the shared libraries wheels bundle)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (".so" in path.suffixes or path.suffix == ".so"):
            machine = machine_of(path)
            if machine is not None:
                found.append(Binary(path, machine))
    return found


def foreign(root: Path, arch: str) -> list[str]:
    """Why each binary under `root` is not for `arch`; empty when all are."""
    other_tags = [tag for name, tags in NAME_TAGS.items() if name != arch for tag in tags]
    problems = []
    for binary in binaries(root):
        where = binary.path.relative_to(root)
        if binary.machine != arch:
            problems.append(f"{where}: built for {binary.machine}")
        elif any(tag in binary.path.name for tag in other_tags):
            problems.append(f"{where}: named for another architecture")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", type=Path, nargs="?", default=Path(".aws-sam/build/AllocatorLayer"))
    parser.add_argument("--arch", default="aarch64", choices=sorted(NAME_TAGS))
    args = parser.parse_args(argv)
    if not args.layer.is_dir():
        print(f"{args.layer} does not exist: run `make sam-build` first", file=sys.stderr)
        return 2
    found = binaries(args.layer)
    problems = foreign(args.layer, args.arch)
    for problem in problems:
        print(f"foreign binary: {problem}", file=sys.stderr)
    if not found:
        print(f"{args.layer}: no native binary at all (pydantic_core has one): not a built layer?", file=sys.stderr)
        return 1
    if problems:
        return 1
    names = ", ".join(binary.path.name for binary in found)
    print(f"{args.layer}: {len(found)} binaries, all {args.arch}: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
