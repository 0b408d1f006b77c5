"""`Idempotency-Key` on POST /bookings: what the allocator is given for a key (see Allocator.book_once).

A key belongs to its caller (their username), so two users never share one, and comes with a hash
of the body, so the same key with another body is a conflict. Only hashes are stored: in the
booking that the key made (for good) and in a Redis record of the key's slot and refusals (for
IDEMPOTENCY_TTL_SECONDS, at least the contract's hour).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opd.settings import current as settings

if TYPE_CHECKING:
    from opd.service import RequestKey


def ttl_seconds() -> int:
    """IDEMPOTENCY_TTL_SECONDS: at least the contract's hour, which the settings check."""
    return settings().idempotency_ttl_seconds


def _digest(value: Any) -> str:
    # 128 bits: collisions are out of reach, and every keyed booking in a slot's document carries two.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def request_key(*, caller: str, key: str, body: Mapping[str, Any]) -> RequestKey:
    from opd.service import RequestKey  # pymongo and redis load with the first request, not the module

    return RequestKey(key=_digest([caller, key]), body=_digest(dict(body)), ttl_s=ttl_seconds())
