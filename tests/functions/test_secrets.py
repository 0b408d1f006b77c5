"""In AWS the connection strings live in Secrets Manager (moto here); opd.runtime reads each once per environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.client import BaseClient  # type: ignore[import-untyped]
from moto import mock_aws

from opd import runtime

MONGO_SECRET = "opd/test/mongodb-uri"
REDIS_SECRET = "opd/test/redis-url"


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SecretId of every GetSecretValue call any boto3 client makes, in order."""
    reads: list[str] = []
    make_api_call = BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "GetSecretValue":
            reads.append(params["SecretId"])
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return reads


@pytest.fixture
def secrets_manager(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, redis_url: str, database_name: str
) -> Iterator[Any]:
    """Only the *_SECRET names are set, as in the template; the secrets hold the test servers' URLs."""
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("MONGODB_URI_SECRET", MONGO_SECRET)
    monkeypatch.setenv("REDIS_URL_SECRET", REDIS_SECRET)
    monkeypatch.setenv("MONGODB_DATABASE", database_name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")  # never real credentials, even if the shell has some
    with mock_aws():
        client = boto3.client("secretsmanager")
        client.create_secret(Name=MONGO_SECRET, SecretString=mongo_uri)
        client.create_secret(Name=REDIS_SECRET, SecretString=redis_url)
        runtime.reset()
        yield client
        runtime.reset()


def test_connection_strings_come_from_secrets_manager(
    secrets_manager: Any, secret_reads: list[str], database_name: str
) -> None:
    slot_store = runtime.slot_store()
    slot_store.ping()
    assert runtime.redis_client().ping()
    assert sorted(secret_reads) == sorted([MONGO_SECRET, REDIS_SECRET])
    assert slot_store.collection.database.name == database_name


def test_each_secret_is_read_once_per_environment(secrets_manager: Any, secret_reads: list[str]) -> None:
    allocator = runtime.allocator()
    allocator.store.ping()
    assert len(secret_reads) == 2

    # A rotated value is not seen by this environment: its clients and secrets stay cached ...
    secrets_manager.put_secret_value(SecretId=REDIS_SECRET, SecretString="redis://127.0.0.1:1/0")
    for _ in range(3):
        assert runtime.allocator() is allocator
        assert runtime.redis_client().ping()
        runtime.slot_store().ping()
    assert len(secret_reads) == 2

    # ... until it starts afresh, as a new execution environment would.
    runtime.reset()
    assert runtime.redis_client().connection_pool.connection_kwargs["port"] == 1
    assert secret_reads[2:] == [REDIS_SECRET]
