"""SnapStart on this machine: each local Lambda environment starts as if restored from its function's snapshot.

In AWS the route functions run with SnapStart (template.yaml): a version's init runs once, the
runtime's `snapshot_restore_py` runs the before-snapshot hooks, and every new environment is
restored from that snapshot and runs the after-restore hooks. Here a worker (devserver.lambdas)
installs `LocalSnapStart` as `snapshot_restore_py` before it imports the handlers, then runs the
before-snapshot hooks and, as each environment is a restored one, the after-restore hooks: so a
local environment's first request finds what a restored one finds (models built, client modules
imported, no connection) and the hooks run on every `make serve`, test and benchmark.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class LocalSnapStart(ModuleType):
    """The two registries of Lambda's `snapshot_restore_py`, run as its runtime runs them."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py", "SnapStart runtime hooks, as a local environment runs them")
        self.before: list[Hook] = []
        self.after: list[Hook] = []

    def register_before_snapshot(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self.before.append((func, args, kwargs))
        return func

    def register_after_restore(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self.after.append((func, args, kwargs))
        return func

    def snapshot_and_restore(self) -> None:
        """Before-snapshot hooks, last registered first (as Lambda runs them), then after-restore hooks in order."""
        while self.before:
            self._run(self.before.pop())
        for hook in self.after:
            self._run(hook)

    @staticmethod
    def _run(hook: Hook) -> None:
        # In AWS a failing hook fails the version's publication; here the environment goes on, and says why.
        func, args, kwargs = hook
        try:
            func(*args, **kwargs)
        except Exception:
            print(f"SnapStart hook {func.__qualname__} failed:\n{traceback.format_exc()}", file=sys.stderr)


def install() -> LocalSnapStart:
    """Make `import snapshot_restore_py` find the local stand-in in this process."""
    runtime = LocalSnapStart()
    sys.modules["snapshot_restore_py"] = runtime
    return runtime
