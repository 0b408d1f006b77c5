"""Two Powertools packages whose `__init__` imports every module they hold, loaded name by name instead.

`aws_lambda_powertools.event_handler` imports every resolver it has, and AppSync's imports asyncio
(with ssl, socket, subprocess): ~15 ms of a cold start for nothing an HTTP API route uses.
`aws_lambda_powertools.utilities.data_classes` imports all of its 30 event classes (~10 ms), of
which the API Gateway resolver needs a handful. `install()` puts each package in `sys.modules`
without running its `__init__`, with a module `__getattr__` (PEP 562) that imports a name from the
module the `__init__` would have imported it from, at its first use: the same objects, loaded when
asked for. Submodules import as always (`from aws_lambda_powertools.event_handler import
content_types`, `...event_handler.api_gateway`).

It is applied only where it is exactly that: an `__init__` made of nothing but a docstring,
`from ... import ...` lines and `__all__`. Anything else in it (a Powertools upgrade that adds
code there), or the package already imported, and the package is left to load as usual.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def exported(source: str, package: str) -> dict[str, tuple[str, str]] | None:
    """What the `__init__` source binds: {name: (module, name there)}; None if it does anything else."""
    names: dict[str, tuple[str, str]] = {}
    for statement in ast.parse(source).body:
        match statement:
            case ast.Expr(value=ast.Constant(value=str())):  # the docstring
                continue
            case ast.Assign(targets=[ast.Name(id="__all__")]):
                continue
            case ast.ImportFrom(module=module, names=aliases, level=level) if all(a.name != "*" for a in aliases):
                base = importlib.util.resolve_name("." * level + (module or ""), package) if level else module
                if base is None:
                    return None
                for alias in aliases:
                    names[alias.asname or alias.name] = (base, alias.name)
            case _:
                return None
    return names


def lazy_package(package: str) -> ModuleType | None:
    """The package as a module whose names load at first use, or None where that would not be the same."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return None
    names = exported(Path(spec.origin).read_text(encoding="utf-8"), package)
    if names is None:
        return None
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        source, original = names[name]
        value = getattr(importlib.import_module(source), original)
        setattr(module, name, value)  # the next lookup finds it directly
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    setattr(module, "__all__", sorted(names))  # noqa: B010 (ModuleType declares no __all__)
    return module


def install(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Make each package lazy unless it is imported already; returns those made lazy."""
    done = []
    for package in packages:
        if package in sys.modules:
            continue
        module = lazy_package(package)
        if module is None:
            continue
        sys.modules[package] = module
        parent, _, child = package.rpartition(".")
        setattr(sys.modules[parent], child, module)
        done.append(package)
    return done
