"""A doctor's crowded clinic date, as pure values: the most a date may hold, every slot full, every waitlist full.

For the leave benchmark (benchmarks/leave.py) and the test that a crowded day's leave finishes in one request
(tests/handlers/test_sessions_and_leave.py). Made in pure code with the domain's own rules, so that inserting
it is one bulk write, not 2,500 bookings through the service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from opd import domain
from opd.domain import Capacity, Slot, Source

SLOT_MINUTES = 5
# Every tier at its limit with the default capacity (10 / 12 / 15): 15 places taken.
PLACES = ((Source.ONLINE, 10), (Source.PAID, 2), (Source.EMERGENCY, 3))


def crowded_day(
    doctor_id: str,
    day: date,
    now: datetime,
    waitlist_limit: int = domain.WAITLIST_LIMIT,
    slots: int = 100,  # domain.MAX_SLOTS_PER_DAY
) -> list[Slot]:
    """`slots` 5-minute slots from 08:00 UTC on `day`, each with 15 places taken and `waitlist_limit` waiting
    (ONLINE), each booking with a phone; bookings `<slotId>.b<n>` of patients `p-<n>`, n counting across the day."""
    first = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    asks = [(source, False) for source, places in PLACES for _ in range(places)]
    asks += [(Source.ONLINE, True)] * waitlist_limit
    made, n = [], 0
    for i in range(slots):
        start = first + timedelta(minutes=SLOT_MINUTES * i)
        end = start + timedelta(minutes=SLOT_MINUTES)
        slot = domain.new_slot(f"{doctor_id}-s{i}", doctor_id, start, end, Capacity(), now)
        for source, waitlist in asks:
            options = domain.BookingOptions(waitlist=waitlist, waitlist_limit=waitlist_limit, phone=f"+9198{n:08d}")
            slot, _ = domain.book(slot, f"{slot.slot_id}.b{n}", f"p-{n}", source, now, 20, options)
            n += 1
        made.append(slot)
    return made
