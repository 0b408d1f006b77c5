"""A reschedule whose Redis or MongoDB goes away right after its first write (the mark), on real
redis-server and nx-27017.

The answer is 503 with the outcome unknown, never "nothing was written"; in between, check-in and
cancel of the old booking say that a reschedule is being finished and how to finish it; once the
dependency is back, the same request repeated finishes the move and returns the new booking.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devserver.servers import LocalServer, mongo_server, redis_server
from opd import redisconn
from opd import store as store_module
from opd.domain import CancelReason, Slot, Source, Status
from opd.errors import DependencyUnavailable, InvalidTransition, OutcomeUnknown
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow


class StoreThatStopsAServer(SlotStore):
    """Stops `server` right after the next write that reached MongoDB, as a crash of that server would."""

    server: LocalServer | None = None

    def replace(self, slot: Slot, read_version: int) -> bool:
        written = super().replace(slot, read_version)
        if written and self.server is not None:
            self.server.stop()
            self.server = None
        return written


@pytest.mark.parametrize("dependency", ["redis", "mongo"])
def test_a_dependency_lost_after_the_mark_is_503_outcome_unknown_and_the_repeat_finishes_the_move(
    tmp_path: Path, dependency: str
) -> None:
    redis_srv = redis_server(tmp_path / "redis").start()
    mongo_srv = mongo_server(tmp_path / "mongo", persist=True).start()  # its data outlive the restart
    try:
        store = StoreThatStopsAServer(store_module.connect(mongo_srv.url, timeout_ms=500)["opd"]["slots"])
        store.ensure_indexes()
        lock = SlotLock(redisconn.connect(redis_srv.url, timeout_s=0.5))
        allocator = Allocator(store, lock, Settings(), outcome_wait_s=0.5)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        old_slot = allocator.create_slot("dr-outage", start, start + timedelta(hours=1))
        target = allocator.create_slot("dr-outage", start + timedelta(hours=2), start + timedelta(hours=3))
        asha = allocator.book(old_slot.slot_id, "asha", Source.ONLINE, by="asha")

        store.server = redis_srv if dependency == "redis" else mongo_srv  # gone right after write 1
        with pytest.raises(DependencyUnavailable) as caught:
            allocator.reschedule(asha.booking_id, target.slot_id, by="asha")
        if dependency == "mongo":
            mongo_srv.start()  # Redis stays away for now: a refusal is one read, without the lock

        marked = allocator.get_booking(asha.booking_id)
        new_id = marked.rescheduled_to
        assert marked.rescheduling and new_id is not None and new_id.startswith(f"{target.slot_id}.")
        unknown = caught.value
        assert isinstance(unknown, OutcomeUnknown), unknown.message
        assert unknown.details == [
            {"dependency": dependency, "outcome": "UNKNOWN", "bookingId": asha.booking_id, "rescheduledTo": new_id}
        ]
        assert "outcome is not known yet: repeat the same request to finish it" in unknown.message

        for move in (allocator.check_in, allocator.cancel):
            with pytest.raises(InvalidTransition) as refused:
                move(asha.booking_id)
            assert refused.value.details[0]["rescheduledTo"] == new_id
            assert f"is being rescheduled to slot {target.slot_id}" in refused.value.message
            assert "repeat the reschedule request to finish it, or wait for the sweeper" in refused.value.message
        assert allocator.get_booking(asha.booking_id) == marked

        if dependency == "redis":
            redis_srv.start()  # the same port: the client reconnects by itself
        moved = allocator.reschedule(asha.booking_id, target.slot_id, by="asha")
        assert (moved.booking_id, moved.status, moved.rescheduled_from) == (new_id, Status.BOOKED, asha.booking_id)
        old = allocator.get_booking(asha.booking_id)
        assert (old.status, old.cancel_reason) == (Status.CANCELLED, CancelReason.RESCHEDULED)
        assert list(store.slots_with_reschedules(100)) == []
        assert allocator.reschedule(asha.booking_id, target.slot_id, by="asha").booking_id == new_id
    finally:
        mongo_srv.stop()
        redis_srv.stop()
