"""Cold start: how long each handler module takes to import in a fresh interpreter.

A Lambda cold start pays this once per execution environment, before the first request. Each
`functions/<name>/app.py` is imported by N fresh interpreters with the deployed environment
variables; the figure is the median. Nothing may connect at import time, so no server is needed.
One unmeasured import per handler first writes the bytecode caches, as pip does for packages.

By default the code is imported from the repo (`functions.<name>.app`, the layer's source and
the .venv's packages, which hold more than the layer: e.g. cryptography). `--built` imports
`sam build`'s output instead (.aws-sam/build: the function's `app` and the layer's packages only,
no site-packages), as Lambda does. The built layer is for arm64, whose binaries (pydantic-core)
cannot load on an x86_64 machine, so there the layer is built again by the same Makefile for this
machine's architecture (ARCH=x86_64, into .aws-sam/host-layer): the same files but for the binaries.
Figures, not a timed test.

    .venv/bin/python benchmarks/cold_start.py [--repeats 7] [--handler create_booking ...] [--built]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # run as a script: the repo's devserver package

from devserver.template import function_named, load_template, plain_environment  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BUILD = ROOT / ".aws-sam" / "build"
HOST_LAYER = ROOT / ".aws-sam" / "host-layer"  # the layer's Makefile run for this machine's architecture
TARGET_MS = 170.0  # per route handler, from sam build's output (issue 14; it was 250 before)
# Scheduled, not behind the API: nobody waits on its cold start, and it imports its clients up front.
NOT_ROUTES = frozenset({"sweep_no_shows"})

# Runs in the fresh interpreter: argv is the module, then the paths to put first; prints milliseconds,
# elapsed and CPU (the CPU figure moves less when other processes share the machine).
PROBE = """
import importlib, sys, time
sys.path[:0] = sys.argv[2:]
began, cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
print((time.perf_counter() - began) * 1000, (time.process_time() - cpu) * 1000)
"""

# What Lambda itself sets before the handler is imported, beside the template's variables.
LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
}


@dataclass(frozen=True)
class Layout:
    """Where one handler's code and packages come from."""

    module: str  # what to import
    paths: tuple[str, ...]  # put first on sys.path
    task_root: str  # LAMBDA_TASK_ROOT: the function's code
    flags: tuple[str, ...] = ()  # interpreter flags


def from_source(name: str) -> Layout:
    function = ROOT / "functions" / name
    return Layout(f"functions.{name}.app", (str(ROOT / "layers" / "allocator"), str(ROOT)), str(function))


def from_build(name: str, build: Path, layer: Path) -> Layout:
    """`sam build`'s output: the function's directory and the layer's python/, nothing from the .venv."""
    code = build / function_named(load_template(ROOT / "template.yaml"), name, ROOT).logical_id
    if not (code / "app.py").is_file() or not layer.is_dir():
        raise SystemExit(f"no sam build output for {name} under {build}: run `make sam-build` first")
    return Layout("app", (str(code), str(layer)), str(code), flags=("-S",))  # -S: no site-packages


def built_layer(build: Path) -> Path:
    """sam build's layer where it runs on this machine; else the same Makefile's build for this machine."""
    built = build / "AllocatorLayer" / "python"
    arch = platform.machine()
    if not built.is_dir():
        raise SystemExit(f"no sam build output under {build}: run `make sam-build` first")
    if all(arch in path.name for path in built.rglob("*.so")):
        return built
    make = ["make", "--no-print-directory", "-C", str(ROOT / "layers" / "allocator"), "build-AllocatorLayer"]
    subprocess.run([*make, f"ARTIFACTS_DIR={HOST_LAYER}", f"ARCH={arch}", f"PYTHON={sys.executable}"], check=True)
    return HOST_LAYER / "python"


def handlers() -> list[str]:
    return sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


def environment() -> dict[str, str]:
    """The deployed functions' environment: template.yaml's Globals and what Lambda adds (tracing is on)."""
    plain = plain_environment(load_template(ROOT / "template.yaml"))
    return plain | LAMBDA_ENVIRONMENT


def of_function(env: dict[str, str], name: str, layout: Layout) -> dict[str, str]:
    """The process environment of one function's Lambda environment."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    inherited = {variable: os.environ[variable] for variable in keep if variable in os.environ}
    code = {"LAMBDA_TASK_ROOT": layout.task_root, "AWS_LAMBDA_FUNCTION_NAME": f"opd-{name}"}
    return inherited | env | code


def import_ms(name: str, layout: Layout, env: dict[str, str], importtime: bool = False) -> tuple[float, float, str]:
    """One fresh interpreter importing the handler: (milliseconds, CPU milliseconds, stderr)."""
    flags = [*layout.flags, *(["-X", "importtime"] if importtime else [])]
    done = subprocess.run(
        [sys.executable, *flags, "-c", PROBE, layout.module, *layout.paths],
        capture_output=True,
        text=True,
        env=of_function(env, name, layout),
        cwd=layout.task_root,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {name}'s {layout.module} failed:\n{done.stderr[-2000:]}")
    elapsed, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(elapsed), float(cpu), done.stderr


def heaviest_packages(importtime_log: str, top: int = 6) -> list[tuple[str, float]]:
    """From `-X importtime` lines (self µs | cumulative µs | module): self time summed per top-level package."""
    spent: Counter[str] = Counter()  # microseconds
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if self_us.isdigit():
            spent[module.split(".")[0]] += int(self_us)
    return [(package, us / 1000) for package, us in spent.most_common(top)]


def measure(layouts: dict[str, Layout], repeats: int, env: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for name, layout in layouts.items():
        import_ms(name, layout, env)  # writes the bytecode caches; not counted
        measured = [import_ms(name, layout, env) for _ in range(repeats)]
        runs, cpu = [run[0] for run in measured], [run[1] for run in measured]
        rows.append(
            {
                "handler": name,
                "medianMs": round(statistics.median(runs), 1),
                "cpuMedianMs": round(statistics.median(cpu), 1),
                "minMs": round(min(runs), 1),
                "maxMs": round(max(runs), 1),
                "runsMs": [round(run, 1) for run in runs],
                "metTarget": None if name in NOT_ROUTES else statistics.median(runs) <= TARGET_MS,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'handler':<20}{'median ms':>10}{'min':>8}{'max':>8}{'cpu ms':>8}  target <= {TARGET_MS:.0f} ms"]
    for r in rows:
        verdict = {True: "met", False: "MISSED", None: "(not a route)"}[r["metTarget"]]
        figures = f"{r['medianMs']:>10.1f}{r['minMs']:>8.1f}{r['maxMs']:>8.1f}{r['cpuMedianMs']:>8.1f}"
        lines.append(f"{r['handler']:<20}{figures}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh interpreters per handler (default 7)")
    parser.add_argument("--handler", action="append", help="only this handler (repeatable); default: all")
    parser.add_argument("--built", action="store_true", help="import sam build's output, as Lambda does")
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="sam build's output (default .aws-sam/build)")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start.json")
    args = parser.parse_args(argv)
    names = args.handler or handlers()
    if not names:
        print("no functions/<name>/app.py found", file=sys.stderr)
        return 1
    env = environment()
    layer = built_layer(args.build_dir) if args.built else None
    layouts = {name: from_build(name, args.build_dir, layer) if layer else from_source(name) for name in names}
    rows = measure(layouts, args.repeats, env)
    slowest = max(rows, key=lambda r: (r["metTarget"] is not None, r["medianMs"]))  # the slowest route
    heavy = heaviest_packages(import_ms(slowest["handler"], layouts[slowest["handler"]], env, importtime=True)[2])
    where = f"sam build ({args.build_dir}; the layer from {layer})" if layer else "the repo and the .venv"
    print(f"imported from {where}")
    print(table(rows))
    print(f"\nslowest: {slowest['handler']}; its import time by package (self ms): ", end="")
    print(", ".join(f"{package} {ms:.0f}" for package, ms in heavy))
    met = all(r["metTarget"] is not False for r in rows)
    print(f"target (median <= {TARGET_MS:.0f} ms per route handler): {'met' if met else 'MISSED'}")
    result = {
        "benchmark": "cold_start",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "repeats": args.repeats,
        "importedFrom": "sam build" if args.built else "source and .venv",
        "environment": env,
        "targetMs": TARGET_MS,
        "met": met,
        "handlers": rows,
        "slowestByPackageMs": dict(heavy),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
