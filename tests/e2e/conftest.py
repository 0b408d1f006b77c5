"""End-to-end: the whole local stack (runner, own servers, local Cognito, Lambda environments) over HTTP.

Each module starts one stack of its own, in-process, with auth on. A module's tests share it, so
each module marks its tests with an xdist group of its own and they all run on one worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devserver.runner import LocalStack, start_stack
from tests.e2e.support import Api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A database of its own, in case REDIS_URL / MONGODB_URI point at shared servers.
    database = f"opd_e2e_{uuid.uuid4().hex[:12]}"
    data_dir = tmp_path_factory.mktemp("stack")
    # Four Lambda environments: enough for real contention, few enough to start quickly on two cores.
    with start_stack(port=0, data_dir=data_dir, auth=True, database=database, concurrency=4) as started:
        yield started


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Api:
    return Api(stack.url)
