"""The allocator's operations: domain decisions on the slot as read, written in one conditional replace.

Dependencies come in as parameters (store, lock, settings, clock), typed by the ports in
`opd.ports`, so the handlers, the local runner and the tests all assemble the same service around
different adapters: MongoDB and Redis in AWS and locally, in-memory fakes in the unit tests.

The package, by what depends on what (nothing points back up):

- `ids`, `reports`: the ids and the clock it makes up, the records it answers;
- `reads`: slots and bookings read from the store, no lock;
- `relay`: `EventRelay`, events on the bus, right after a write and by the scheduled relay;
- `writer`: `SlotWriter`, the one fenced write path (`change`) and the Idempotency-Key answers;
- `rescheduler`: `Rescheduler`, a booking moved in three one-slot writes, and unfinished moves finished;
- `sweep`: `NoShowSweeper`, the scheduled no-show sweep;
- `allocator`: `Allocator`, the facade the handlers, the runtime and the tests use;
- `register`: `PatientRegister`, the patient register's operations (no slot, no lock).
"""

from opd.service.allocator import Allocator
from opd.service.ids import new_booking_id, new_slot_id, new_status_code, utc_now
from opd.service.register import PatientRegister
from opd.service.relay import PUBLISH_PAUSE_S
from opd.service.reports import (
    Booked,
    BookingsPage,
    CallNext,
    LeaveTaken,
    RelayReport,
    ReschedulesReport,
    SessionsOpened,
    SweepReport,
)
from opd.service.writer import KEY_TTL_S, OUTCOME_WAIT_S, Decision, RequestKey

__all__ = [
    "KEY_TTL_S",
    "OUTCOME_WAIT_S",
    "PUBLISH_PAUSE_S",
    "Allocator",
    "Booked",
    "BookingsPage",
    "CallNext",
    "Decision",
    "LeaveTaken",
    "PatientRegister",
    "RelayReport",
    "RequestKey",
    "ReschedulesReport",
    "SessionsOpened",
    "SweepReport",
    "new_booking_id",
    "new_slot_id",
    "new_status_code",
    "utc_now",
]
