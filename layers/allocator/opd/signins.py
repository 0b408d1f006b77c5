"""Redis adapter of sign-in by phone: how many codes each phone asked for lately, its pending sign-in, and the
tickets the Create auth challenge trigger sends codes against (`opd.service.signin` says why each exists).

- `otp:asked:<phone key>`: a sorted set of the times (Unix ms) the phone's codes were asked for. One script drops
  those older than the window, and adds the new one only while fewer than the limit are left, or answers the
  oldest: a sliding window, exact at any rate, never more than `limit` entries. It lives as long as the window.
- `otp:pending:<phone key>`: `{"username", "newPatient", "session"}` as JSON, for the code's life. A wrong answer
  replaces the session and keeps the life (`SET ... XX KEEPTTL`); a used code deletes it.
- `otp:ticket:<username>`: a list of `{"phone", "language"}`, one per code the service allows, taken once each
  (`LPOP`) by the trigger, gone with the code's life.

Phones are named by `domain.otp.phone_key` in keys; a ticket carries the phone itself (the SMS goes there), for
at most the code's life. Every error is DependencyUnavailable: nothing is sent without Redis (fail safe).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

import redis

from opd.domain.otp import CodeTicket, PendingSignIn
from opd.redisconn import redis_errors

# KEYS[1] the phone's codes. ARGV: now_ms, window_ms, limit, a new member. Nil: counted; else the oldest's score.
ASK = """
local now = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then
  return redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('zadd', KEYS[1], now, ARGV[4])
redis.call('pexpire', KEYS[1], ARGV[2])
return false
"""


class RedisSignIns:
    """`ports.SignInCodes` and `ports.CodeTickets` on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    # -- the phone's codes and its pending sign-in ------------------------------------------------------------

    def ask(self, phone_key: str, now_ms: int, limit: int, window_ms: int) -> int | None:
        member = f"{now_ms}:{secrets.token_hex(4)}"  # two codes asked in one millisecond are two
        with redis_errors():
            oldest = self.client.eval(ASK, 1, f"otp:asked:{phone_key}", now_ms, window_ms, limit, member)
        return None if oldest is None else int(float(cast(bytes, oldest)))

    def pending(self, phone_key: str) -> PendingSignIn | None:
        with redis_errors():
            raw = self.client.get(f"otp:pending:{phone_key}")
        if raw is None:
            return None
        found: dict[str, Any] = json.loads(cast(bytes, raw))
        return PendingSignIn(found["username"], bool(found["newPatient"]), found.get("session"))

    def begin(self, phone_key: str, pending: PendingSignIn, ttl_s: int) -> None:
        with redis_errors():
            self.client.set(f"otp:pending:{phone_key}", _pending_json(pending), ex=ttl_s)

    def carry_on(self, phone_key: str, pending: PendingSignIn) -> None:
        with redis_errors():
            self.client.set(f"otp:pending:{phone_key}", _pending_json(pending), xx=True, keepttl=True)

    def end(self, phone_key: str) -> None:
        with redis_errors():
            self.client.delete(f"otp:pending:{phone_key}")

    # -- the Create trigger's tickets ---------------------------------------------------------------------------

    def give(self, username: str, ticket: CodeTicket, ttl_s: int) -> None:
        key = f"otp:ticket:{username}"
        with redis_errors(), self.client.pipeline(transaction=True) as both:
            both.rpush(key, json.dumps({"phone": ticket.phone, "language": ticket.language}))
            both.expire(key, ttl_s)
            both.execute()

    def take(self, username: str) -> CodeTicket | None:
        with redis_errors():
            raw = self.client.lpop(f"otp:ticket:{username}")
        if raw is None:
            return None
        found = json.loads(cast(bytes, raw))
        return CodeTicket(str(found["phone"]), str(found["language"]))


def _pending_json(pending: PendingSignIn) -> str:
    return json.dumps({"username": pending.username, "newPatient": pending.new_patient, "session": pending.session})
