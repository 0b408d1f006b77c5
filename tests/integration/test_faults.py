"""Redis or MongoDB going away: a clear error, the lock released, nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devserver.servers import LocalServer, mongo_server, redis_server
from opd import redisconn
from opd import store as store_module
from opd.domain import Slot, Source
from opd.errors import DependencyUnavailable
from opd.lock import SlotLock
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore

pytestmark = pytest.mark.slow


def allocator_on(redis_srv: LocalServer, mongo_srv: LocalServer, store_class: type[SlotStore] = SlotStore) -> Allocator:
    store = store_class(store_module.connect(mongo_srv.url, timeout_ms=500)["opd"]["slots"])
    store.ensure_indexes()
    return Allocator(store, SlotLock(redisconn.connect(redis_srv.url, timeout_s=0.5)), Settings())


def a_slot_with_bookings(allocator: Allocator, count: int = 3) -> Slot:
    start = datetime.now(UTC) + timedelta(hours=1)
    slot = allocator.create_slot("dr-faults", start, start + timedelta(hours=1))
    for i in range(count):
        allocator.book(slot.slot_id, f"p{i}", Source.ONLINE)
    return allocator.get_slot(slot.slot_id)


def test_redis_down_means_dependency_unavailable_and_the_slot_unchanged(
    private_servers: tuple[LocalServer, LocalServer],
) -> None:
    redis_srv, mongo_srv = private_servers
    allocator = allocator_on(redis_srv, mongo_srv)
    before = a_slot_with_bookings(allocator)

    redis_srv.stop()
    for attempt in (
        lambda: allocator.book(before.slot_id, "new-patient", Source.ONLINE),
        lambda: allocator.cancel(before.bookings[0].booking_id),
        lambda: allocator.set_delay(before.slot_id, True, 10),
    ):
        with pytest.raises(DependencyUnavailable) as caught:
            attempt()
        assert caught.value.dependency == "redis"
    assert allocator.get_slot(before.slot_id) == before

    redis_srv.start()  # same port: the client reconnects by itself
    assert allocator.book(before.slot_id, "new-patient", Source.ONLINE).token == 4


class StoreThatLosesMongo(SlotStore):
    """Stops the MongoDB server at a chosen step of a booking."""

    server: LocalServer
    fail_on: str = "nothing"  # set once the slot is ready

    def get(self, slot_id: str) -> Slot | None:
        if self.fail_on == "get":
            self.server.stop()
        return super().get(slot_id)

    def replace(self, slot: Slot, read_version: int) -> bool:
        if self.fail_on == "replace":
            self.server.stop()
        return super().replace(slot, read_version)


@pytest.mark.parametrize("fail_on", ["get", "replace"])
def test_mongo_down_mid_booking_releases_the_lock_and_writes_nothing(tmp_path: Path, fail_on: str) -> None:
    redis_srv = redis_server(tmp_path / "redis").start()
    # On a file, so the data outlive the restart and can be checked afterwards.
    mongo_srv = mongo_server(tmp_path / "mongo", persist=True).start()
    try:
        allocator = allocator_on(redis_srv, mongo_srv, StoreThatLosesMongo)
        assert isinstance(allocator.store, StoreThatLosesMongo)
        before = a_slot_with_bookings(allocator)
        allocator.store.server, allocator.store.fail_on = mongo_srv, fail_on

        with pytest.raises(DependencyUnavailable) as caught:
            allocator.book(before.slot_id, "new-patient", Source.PAID)
        assert caught.value.dependency == "mongo"
        assert allocator.lock.client.get(SlotLock.key(before.slot_id)) is None  # released, not left to expire

        allocator.store.fail_on = "nothing"
        mongo_srv.start()
        assert allocator.get_slot(before.slot_id) == before
        assert allocator.book(before.slot_id, "new-patient", Source.PAID).token == 4
    finally:
        mongo_srv.stop()
        redis_srv.stop()
