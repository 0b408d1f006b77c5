"""`make demo`: a clinic day replayed through the HTTP API of a local stack, then checked.

The day (its slots are tomorrow in the clinic's zone, so they are open whatever the wall clock says):
the admin opens each doctor's morning and afternoon sessions (and sends the same requests again: they
create nothing); online patients book at once, the refused ones join waitlists, cancellations promote them,
patients reschedule (each request sent twice); then hour by hour the desk books arrivals and checks them
in, doctors call patients in, some are skipped (one three times: a no-show whose place goes to the
waitlist), a patient who checked in leaves (cancelled: the place goes to the waitlist), one doctor runs 40
minutes late, the no-show sweeper is told start + grace and ends waitlists (promoting nobody), and run again
at that time changes nothing, the event relay runs; at noon one doctor goes on leave. At the busy moment the
board and the desk are photographed in chromium. At the end the bus's events and the SMS sent are read, the
slots, queues, waitlists, every booking and the store's documents are read back, and the contract's
invariants checked (demo/checks.py, in the demo's own words: nothing is imported from the service).

Output: a report on stdout, and under demo-output/ a JSON report, a PNG timeline of each slot's places
held against its tier limits, and the pictures (board-hi.png and board.png: the board in Hindi and in English;
desk.png, board-afternoon.png). The exit status is 1 when an invariant fails.

Beside the day: `seed` (`make seed`: a clinic day on a running `make serve`) and `client`, the small
HTTP client of the API that the day, the seed and the benchmarks use.
"""

from demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
