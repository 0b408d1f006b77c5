"""The scheduled no-show sweep: unfinished reschedules first, then BOOKED bookings past start + grace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from opd import domain
from opd.domain import Slot
from opd.errors import SlotBusy
from opd.ports import SlotRepository
from opd.service.reports import SweepReport
from opd.service.rescheduler import Rescheduler
from opd.service.writer import Decision, SlotWriter
from opd.settings import Settings


class NoShowSweeper:
    """Marks no-shows one slot at a time, through the writer, after finishing the reschedules left half done."""

    def __init__(self, store: SlotRepository, writer: SlotWriter, rescheduler: Rescheduler, settings: Settings) -> None:
        self.store = store
        self.writer = writer
        self.rescheduler = rescheduler
        self.settings = settings

    def sweep(
        self, at: datetime, time_left: Callable[[], float] | None = None, batch_size: int = 100, reserve_s: float = 2.0
    ) -> SweepReport:
        """Mark BOOKED bookings of slots past start + grace (as of `at`) as NO_SHOW, one slot at a time.

        `time_left` (seconds, e.g. Lambda's remaining time) lets a run stop cleanly and leave the
        rest to the next one. A busy slot is skipped, not waited on: the next run takes it.
        """
        grace = self.settings.no_show_grace_minutes
        # Reschedules first: a booking being rescheduled is no no-show, and one whose reschedule is
        # abandoned here is an ordinary BOOKED booking again, which this same run may then mark.
        reschedules = self.rescheduler.finish_reschedules(at, time_left, batch_size, reserve_s)
        marked = slots = 0
        busy = reschedules.busy

        def report(finished: bool) -> SweepReport:
            return SweepReport(marked, slots, busy, finished, reschedules.finished, reschedules.abandoned)

        if not reschedules.complete:
            return report(finished=False)
        for slot_id in self.store.slots_awaiting_sweep(domain.no_show_cutoff(at, grace), batch_size):
            if time_left is not None and time_left() < reserve_s:
                return report(finished=False)

            def decide(slot: Slot) -> Decision[int]:
                swept, newly = domain.mark_no_shows(slot, at, grace)
                return (swept if swept != slot else None), len(newly)  # expiries alone are a change too

            try:
                count = self.writer.change(slot_id, decide)
            except SlotBusy:
                busy += 1
                continue
            marked += count
            slots += 1 if count else 0
        return report(finished=True)
