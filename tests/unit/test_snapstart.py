"""SnapStart hooks, with a stand-in for the Lambda runtime's `snapshot_restore_py` (it exists only there)."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

import pytest

from devserver.snapstart import LocalSnapStart
from opd import runtime
from opd.api import models, snapstart
from opd.api.resolver import make_app, make_handler
from opd.settings import Settings
from opd.settings import current as current_settings


@pytest.fixture
def lambda_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSnapStart]:
    fake = LocalSnapStart()  # the local runner's stand-in for Lambda's snapshot_restore_py
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    runtime.reset()
    yield fake
    runtime.reset()


def test_outside_lambda_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as it does off Lambda
    assert snapstart.runtime_hooks() is None
    assert snapstart.register(make_app()) is False


def test_every_route_function_registers_its_hooks(lambda_runtime: LocalSnapStart) -> None:
    app = make_app()
    make_handler(app)
    assert [(func, args) for func, args, _ in lambda_runtime.before] == [(snapstart.prime, (app,))]
    assert [func for func, _, _ in lambda_runtime.after] == [snapstart.after_restore]


def test_the_snapshot_holds_the_built_models_and_no_connection(lambda_runtime: LocalSnapStart) -> None:
    # No socket can be opened in a unit test (tests/unit/conftest.py): priming that connected would fail here.
    from functions.create_booking import app as create_booking

    snapstart.register(create_booking.app)
    for func, args, kwargs in reversed(lambda_runtime.before):  # the snapshot, not yet a restore
        func(*args, **kwargs)
    assert all(model.__pydantic_complete__ for model in models.all_models())
    assert create_booking.app._static_routes[0]._dependant is not None  # Powertools' route fields, built
    assert "pymongo" in sys.modules and "redis" in sys.modules  # imported, not connected:
    for client in (runtime.redis_client, runtime.mongo_client, runtime.slot_store, runtime.allocator):
        assert client.cache_info().currsize == 0


def test_environments_restored_from_one_snapshot_draw_their_own_random_numbers(lambda_runtime: LocalSnapStart) -> None:
    snapstart.register(make_app())
    snapshot = random.getstate()  # what every environment restored from this snapshot starts with

    def restored_environment(hooks: bool) -> list[float]:
        random.setstate(snapshot)
        if hooks:
            for func, args, kwargs in lambda_runtime.after:
                func(*args, **kwargs)
        return [random.random() for _ in range(4)]  # e.g. Powertools' log sampling, any retry jitter

    assert restored_environment(hooks=False) == restored_environment(hooks=False)  # the hazard
    assert restored_environment(hooks=True) != restored_environment(hooks=True)


def test_after_restore_drops_whatever_opd_runtime_kept(lambda_runtime: LocalSnapStart) -> None:
    runtime.settings()
    assert current_settings.cache_info().currsize == 1  # opd.runtime's caches hold something
    snapstart.after_restore()
    assert current_settings.cache_info().currsize == 0


def test_boto3_is_primed_only_where_a_connection_string_is_a_secret() -> None:
    given = Settings(redis_url="redis://127.0.0.1:6379/0", mongodb_uri="mongodb://127.0.0.1:27017/")
    assert snapstart.SECRETS_MODULE not in snapstart.client_modules(given)
    in_aws = Settings(redis_url_secret="opd/redis-url", mongodb_uri_secret="opd/mongodb-uri")
    assert snapstart.client_modules(in_aws) == (*snapstart.CLIENT_MODULES, snapstart.SECRETS_MODULE)
