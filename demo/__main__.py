"""`make demo`: a clinic day replayed through the HTTP API of a local stack, then checked.

The command line of `python -m demo`; the package's docstring tells the whole story.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demo.run import run_demo

OUTPUT = Path("demo-output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--doctors", type=int, default=3, choices=range(3, 11), metavar="3..10")
    parser.add_argument(
        "--morning", type=int, default=3, choices=range(2, 5), metavar="2..4", help="hourly slots from 09:00"
    )
    parser.add_argument(
        "--afternoon", type=int, default=2, choices=range(1, 5), metavar="1..4", help="hourly slots from 13:00"
    )
    parser.add_argument("--rush", type=int, default=240, help="online patients booking at the same moment")
    parser.add_argument("--seed", type=int, default=7, help="the replay's choices; the rush's order is the machine's")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where the report, the timeline and the pictures go")
    parser.add_argument(
        "--no-screenshots", action="store_true", help="skip the pictures of the board and the desk (no chromium)"
    )
    args = parser.parse_args(argv)
    result = run_demo(
        args.doctors, args.morning, args.afternoon, args.rush, args.seed, args.out, not args.no_screenshots
    )
    if not result.ok:
        print("\nAN INVARIANT FAILED: see above.", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
