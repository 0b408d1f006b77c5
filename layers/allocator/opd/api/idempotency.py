"""`Idempotency-Key` on POST /bookings: Powertools idempotency kept in the service's own Redis.

A record is keyed by the caller (their username) and the header value, so two users never share
a key, and it remembers a hash of the body, so the same key with another body is a conflict. Only
definitive answers are stored: `compute` raises on a transient failure (slot busy, store down),
Powertools then deletes the in-progress record, and the client's retry really retries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from opd.errors import DependencyUnavailable, IdempotencyConflict
from opd.settings import current as settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.redis import RedisCachePersistenceLayer

KEY_PREFIX = "idempotency:booking"  # Redis keys look like idempotency:booking#<md5 of [caller, key]>

Answer = dict[str, Any]


def ttl_seconds() -> int:
    """IDEMPOTENCY_TTL_SECONDS: at least the contract's hour, which the settings check."""
    return settings().idempotency_ttl_seconds


def once(
    *, caller: str, key: str, body: Mapping[str, Any], compute: Callable[[], Answer], context: LambdaContext
) -> Answer:
    """`compute()` at most once per (caller, key) while the record lives; repeats get its answer back."""
    # Powertools' idempotency package imports boto3 for DynamoDB: load it only when a key is used.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyInconsistentStateError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    from opd import runtime

    config = IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=ttl_seconds(),
        # An in-progress record dies with the invocation that wrote it, not a day later.
        lambda_context=context,
    )

    def first_answer(request: Answer) -> Answer:
        return compute()

    run = idempotent_function(
        first_answer,
        data_keyword_argument="request",
        # redis-py's client is what the layer expects; only its typing stubs are wider than the protocol.
        persistence_store=_redis_records()(client=cast(Any, runtime.redis_client())),
        config=config,
        key_prefix=KEY_PREFIX,
    )
    try:
        answer: Answer = run(request={"caller": caller, "key": key, "body": dict(body)})
    except IdempotencyValidationError as exc:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different body") from exc
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError) as exc:
        raise IdempotencyConflict("a request with this Idempotency-Key is still in progress; retry shortly") from exc
    except IdempotencyPersistenceLayerError as exc:
        raise DependencyUnavailable("redis", "Redis unreachable: the Idempotency-Key cannot be honoured") from exc
    return answer


@cache
def _redis_records() -> type[RedisCachePersistenceLayer]:
    """Powertools' Redis layer, with completed records that keep the body's hash.

    In Powertools 3.37 `_update_record` rewrites the record as COMPLETED without the payload
    hash, so with payload validation every identical repeat looked like another body (the same
    bug was fixed in the TypeScript twin: aws-powertools/powertools-lambda-typescript#5705).
    `_update_record` is one of the methods a persistence layer is meant to provide.
    """
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.idempotency.persistence.redis import RedisCachePersistenceLayer

    class RedisRecords(RedisCachePersistenceLayer):
        def _update_record(self, data_record: DataRecord) -> None:
            item = {
                self.data_attr: data_record.response_data,
                self.status_attr: data_record.status,
                self.expiry_attr: data_record.expiry_timestamp,
            }
            if self.payload_validation_enabled:
                item[self.validation_key_attr] = data_record.payload_hash
            ttl = self._get_expiry_second(data_record.expiry_timestamp)
            self.client.set(name=data_record.idempotency_key, value=json.dumps(item), ex=ttl)

    return RedisRecords
