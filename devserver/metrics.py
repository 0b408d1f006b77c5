"""The metrics the local Lambda environments emit, counted for `GET /_local/metrics` (local only, not in the contract).

In AWS, Powertools prints each invocation's metrics as an EMF line (CloudWatch's embedded metric format) on the
function's stdout, and CloudWatch Logs makes metrics of it. Here each environment's stdout is the runner's console:
an environment started with OPD_LOCAL_METRICS set (`runner.start_stack` sets it, and turns Powertools' metrics on)
sends its EMF lines to that file instead (`divert_from_stdout`), one line per write, appended; everything else it
prints goes to the console as before. The runner sums the file (`EmittedMetrics`): since it started, per metric, its
samples, their sum and the sum by each dimension's value.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

ENV = "OPD_LOCAL_METRICS"
EMF_START = '{"_aws":'  # how Powertools' EMF lines begin (json.dumps of a dict whose first key is "_aws")


class MetricsApart(io.TextIOBase):
    """A stdout whose EMF lines go to a file of their own, appended a whole line per write (several processes append
    to one file); every other line goes on to `out`."""

    def __init__(self, out: TextIO, path: str) -> None:
        self.out = out
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._pending = ""  # print() writes its text and its newline separately
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                if line.startswith(EMF_START):
                    os.write(self._fd, (line + "\n").encode("utf-8"))
                else:
                    self.out.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending and not self._pending.startswith(EMF_START[: len(self._pending)]):
                self.out.write(self._pending)
                self._pending = ""
        self.out.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.out.encoding


def divert_from_stdout() -> None:
    """In a Lambda environment (`devserver.lambdas`): its EMF lines to OPD_LOCAL_METRICS' file, if that is set. Done
    before any handler is imported, so that every logger made then writes through it."""
    path = os.environ.get(ENV)
    if path:
        sys.stdout = MetricsApart(sys.stdout, path)


class EmittedMetrics:
    """The sums of the EMF lines in `path`, read on from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._metrics: dict[str, dict[str, Any]] = {}
        self._lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _read_on(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(complete)
        for raw in complete.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                self._lines.append(line)
                self._count(line)

    def _count(self, line: dict[str, Any]) -> None:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            dimensions = {name for names in directive.get("Dimensions", []) for name in names} - {"service"}
            for metric in directive.get("Metrics", []):
                name = metric.get("Name")
                values = line.get(name)
                values = values if isinstance(values, list) else [values]
                values = [v for v in values if isinstance(v, (int, float))]
                entry = self._metrics.setdefault(name, {"unit": metric.get("Unit"), "samples": 0, "sum": 0, "by": {}})
                entry["samples"] += len(values)
                entry["sum"] += sum(values)
                for dimension in sorted(dimensions):
                    split = entry["by"].setdefault(dimension, {})
                    value = str(line.get(dimension))
                    split[value] = split.get(value, 0) + sum(values)

    def summary(self) -> dict[str, Any]:
        """`GET /_local/metrics`: {"metrics": {name: {"unit", "samples", "sum", "by": {dimension: {value: sum}}}}}."""
        with self._lock:
            self._read_on()
            metrics = {
                name: {**entry, "sum": _plain(entry["sum"]), "by": _plain(entry["by"])}
                for name, entry in sorted(self._metrics.items())
            }
        return {"metrics": metrics}

    def lines(self) -> list[dict[str, Any]]:
        """Every EMF line emitted since the start, as emitted (the tests read their dimensions)."""
        with self._lock:
            self._read_on()
            return list(self._lines)


def _plain(value: Any) -> Any:
    """Sums as the integers they are where they are whole (counts), rounded otherwise (milliseconds, seconds)."""
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 3)
    return value
