"""Every module of the layer imports on its own, in a fresh interpreter state, and none takes part
in an import cycle.

One interpreter goes through every module under `layers/allocator/opd` (found by
`pkgutil.walk_packages`); before each, it forgets every `opd` module it has loaded, so each import
starts from nothing, as a Lambda function's first import does. A cycle of `from module import name`
fails there (a name asked of a module still loading), and so does a module that works only when
another was imported first. A cycle that happens to load (`from package import module`, `import
module`) is found by reading the imports each module makes while it loads: those at module level,
outside `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "allocator"

IMPORT_EACH_ALONE = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil
    import sys
    import traceback

    failed = {}

    def forget_opd():
        for name in [name for name in sys.modules if name == "opd" or name.startswith("opd.")]:
            del sys.modules[name]

    def failure(name):
        failed[name] = traceback.format_exc(limit=-3)

    import opd

    modules = ["opd"] + [m.name for m in pkgutil.walk_packages(opd.__path__, "opd.", onerror=failure)]
    for name in modules:
        forget_opd()
        try:
            importlib.import_module(name)
        except Exception:
            failure(name)
    print(json.dumps({"modules": modules, "failed": failed}))
    """
)


def import_each_alone() -> tuple[list[str], dict[str, str]]:
    """The modules found, and those that failed to import alone, each with the end of its traceback."""
    env = {**os.environ, "PYTHONPATH": str(LAYER)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_ALONE], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout.splitlines()[-1])
    return found["modules"], found["failed"]


def test_every_module_of_the_layer_imports_alone() -> None:
    modules, failed = import_each_alone()
    assert failed == {}, "\n".join(f"{name}:\n{trace}" for name, trace in failed.items())
    assert {"opd.service", "opd.service.allocator", "opd.service.writer", "opd.store", "opd.api"} <= set(modules)


# -- the imports read from the source ------------------------------------------------------------


def layer_modules() -> dict[str, Path]:
    """Every module under opd: its name → its file (a package's is its __init__.py)."""
    found = {}
    for path in sorted((LAYER / "opd").rglob("*.py")):
        parts = list(path.relative_to(LAYER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _loading_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports a module makes while it loads: at module level, in `if`s and `try`s, but not under
    `if TYPE_CHECKING:` (nor in functions, which import when called)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from _loading_imports(node.body)
            yield from _loading_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _loading_imports(block)


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The layer's modules `name` imports while it loads: `from a import b` names a.b when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _loading_imports(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:  # relative: from the package, `level - 1` packages up
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {module for module in found if module in modules and module != name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle a depth-first walk meets, as the modules along it, the first one again at the end."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        path.append(module)
        for imported in sorted(graph[module]):
            if imported in path:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return cycles


def test_no_module_of_the_layer_imports_itself_through_others() -> None:
    modules = layer_modules()
    assert {"opd.service", "opd.service.writer", "opd.store"} <= set(modules)
    graph = {name: imported_by(name, path, modules) for name, path in modules.items()}
    assert graph["opd.service.rescheduler"] >= {"opd.service.writer", "opd.domain"}  # the reading works
    assert import_cycles(graph) == []
