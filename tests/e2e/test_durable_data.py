"""`make serve` keeps what it is given across a restart, even a crash of its Redis: idempotency keys as the
slots (issue 9, "Durable local data"). Upstash, the deployed Redis, keeps every write too.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
import requests

from devserver.runner import start_stack

pytestmark = [
    pytest.mark.xdist_group("e2e-durable-data"),
    pytest.mark.skipif(
        bool(os.environ.get("REDIS_URL") or os.environ.get("MONGODB_URI")),
        reason="the servers are given, not started by the runner",
    ),
]

SLOT = {"doctorId": "dr-durable", "start": "2030-01-07T09:00:00+05:30", "end": "2030-01-07T10:00:00+05:30"}


def test_a_restart_keeps_redis_keys_and_slots_even_after_a_crash(tmp_path: Path) -> None:
    with start_stack(port=0, data_dir=tmp_path, auth=False, concurrency=1) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        client.set("idempotency:booking#durable", "the first answer", ex=3600)
        slot = requests.post(f"{stack.url}/slots", json=SLOT, timeout=30).json()
        # Killed, not stopped: a clean shutdown would save a snapshot whatever the settings; a crash does not.
        os.kill(int(client.info("server")["process_id"]), signal.SIGKILL)
        client.close()
        time.sleep(0.2)
    assert list((tmp_path / "redis").glob("appendonlydir/appendonly.aof.*"))  # beside the rest of .local/data

    with start_stack(port=0, data_dir=tmp_path, auth=False, concurrency=1) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        assert client.get("idempotency:booking#durable") == b"the first answer"
        assert 0 < client.ttl("idempotency:booking#durable") <= 3600  # and it still expires
        client.close()
        assert requests.get(f"{stack.url}/slots/{slot['slotId']}", timeout=30).json()["doctorId"] == "dr-durable"
