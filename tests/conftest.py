"""Real servers for the tests: our own redis-server and nx-27017 on free ports, stopped afterwards.

When REDIS_URL / MONGODB_URI are set, those servers are used instead (e.g. a real mongod or Atlas),
and every test works in a database of its own so runs never see each other's slots.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from pymongo import MongoClient

from devserver.servers import LocalServer, mongo_server, redis_server
from opd import redisconn
from opd import store as store_module
from opd.mongo import Document
from opd.service import Allocator
from opd.settings import Settings
from opd.store import SlotStore
from tests.support.events import RecordingPublisher
from tests.support.handoff import PublishingLock, publish_at_once


def _given_or_own(
    env_name: str, make: Callable[[Path], LocalServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The server named in the environment, or one of our own for this test session."""
    if url := os.environ.get(env_name):
        yield url
        return
    server = make(tmp_path_factory.mktemp(env_name.lower())).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _given_or_own("REDIS_URL", redis_server, tmp_path_factory)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _given_or_own("MONGODB_URI", mongo_server, tmp_path_factory)


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[Document]]:
    client = store_module.connect(mongo_uri)
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> redis.Redis:
    return redisconn.connect(redis_url)


@pytest.fixture
def database_name(mongo_client: MongoClient[Document]) -> Iterator[str]:
    name = f"opd_test_{uuid.uuid4().hex[:12]}"
    yield name
    mongo_client.drop_database(name)


@pytest.fixture
def slot_store(mongo_client: MongoClient[Document], database_name: str) -> SlotStore:
    store = SlotStore(mongo_client[database_name]["slots"])
    store.ensure_indexes()
    return store


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def bus() -> RecordingPublisher:
    """The events the `allocator` fixture publishes (EventBridge's stand-in)."""
    return RecordingPublisher()


@pytest.fixture
def allocator(
    slot_store: SlotStore, redis_client: redis.Redis, settings: Settings, bus: RecordingPublisher
) -> Allocator:
    lock = PublishingLock(redis_client, ttl_ms=settings.lock_ttl_ms, wait_ms=settings.lock_wait_ms)
    return publish_at_once(Allocator(slot_store, lock, settings, publisher=bus))


@pytest.fixture
def doctor_id() -> str:
    return f"dr-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def soon() -> datetime:
    """A slot start an hour from now, to the second, so an open slot is easy to make."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


@pytest.fixture
def private_servers(tmp_path: Path) -> Iterator[tuple[LocalServer, LocalServer]]:
    """A redis-server and an nx-27017 of this test's own, for tests that stop and start them."""
    servers = (redis_server(tmp_path / "redis").start(), mongo_server(tmp_path / "mongo").start())
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
