"""`make demo`: a clinic day replayed through the HTTP API of a local stack, then checked.

The day runs in real time, compressed: its slots are tomorrow (UTC), so they are open whatever the
wall clock says, and the no-show sweeper is told the time it would run at (start + grace + 1 min).
Every answer is kept; at the end the slots, their queues, every booking and the store's documents
are read back and the invariants are checked. Output: a report on stdout, and under demo-output/
a JSON report and a PNG timeline of each slot's active bookings against its tier limits.
The exit status is 1 when an invariant fails.

Beside the day: `seed` (`make seed`: a clinic day on a running `make serve`) and `client`, the small
HTTP client of the API that the day, the seed and the benchmarks use.
"""

from demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
