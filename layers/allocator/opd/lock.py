"""Redis: the mutex per doctor slot, and the record an Idempotency-Key leaves beside it.

The lock, `lock:slot:<id>` = an owner token with a TTL, keeps writers of one slot in single file so
nearly every request decides on its first try. It is not what keeps the counts right: the store's
version-conditional write does that, so a holder that stalls past the TTL can lose the lock
without any harm but a retry, and a lock left behind by a dead request only costs its TTL.

A request that finds the lock busy does not poll: it blocks on `lock:slot:<id>:free` (BLPOP) until
the holder's release pushes a token there, or the holder's TTL runs out, or its own wait does.
Redis serves blocked clients first come, first served, so a release hands the slot to the longest
waiter at once, and waiting costs no CPU and one command instead of a poll every few milliseconds
(on a hot slot the polls of twenty waiters slowed the holder they waited for). A token nobody was
waiting for expires with the lock's TTL; a waiter woken by one that is stale only tries once more.

The relay marker, `relayed:slot:<id>` = "<through> <version> ...", says which of the slot's changes
have all their events on the bus (or in the event backlog): every version up to `through`, and the
versions listed above it (`domain.Relayed`). A script adds to it once a request, after letting go of
the lock, has published its own change's events, and the next writer's acquire script reads it, so
its write drops those events from the slot's outbox.

The key record, `idempotency:booking:<key hash>` = {slot, body[, refusal]}, holds what the slot
document cannot: the slot a key was first used with (the same key sent for another slot is a
conflict) and a first answer that was a refusal (nothing was written for it). A booking made with
a key is recorded in the slot document itself, so the record is best effort: if Redis loses it,
nothing worse happens than a refusal not being replayed. It is claimed in the same script, and so
the same round trip, as the lock: a keyed booking costs no more than a plain one.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import redis

from opd.domain import Relayed
from opd.errors import DependencyUnavailable, SlotBusy
from opd.handoff import HAND_OFF_KEY, HAND_OFF_MAX
from opd.ports import Held, KeyClaim, KeyRecord
from opd.redisconn import redis_errors

log = logging.getLogger(__name__)

# How long a slot's relay marker (`relayed:slot:<id>`: every event of a version up to this one is
# published) is kept after its last change. A lost marker costs only a second publication.
MARKER_TTL_S = 7 * 86_400

# KEYS[1] the lock; KEYS[2] the slot's relay marker; KEYS[3] (keyed requests only) the key's record.
# ARGV: owner, ttl_ms, then for the record: slot, body hash, record ttl_s. A record for another slot
# or body, or one holding a refusal, decides the answer: it is returned and no lock is taken.
# Otherwise the record is claimed (if new) and the lock taken, also when we already hold it: an
# acquisition repeated after its reply was lost must not wait out its own lock. The relay marker
# comes back with the lock, so the write can prune what is published without another round trip.
ACQUIRE = """
if KEYS[3] then
  local seen = redis.call('hmget', KEYS[3], 'slot', 'body', 'refusal')
  if not seen[1] then
    redis.call('hset', KEYS[3], 'slot', ARGV[3], 'body', ARGV[4])
    redis.call('expire', KEYS[3], ARGV[5])
  elseif seen[1] ~= ARGV[3] or seen[2] ~= ARGV[4] or seen[3] then
    return {'recorded', seen[1], seen[2], seen[3] or ''}
  end
end
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] then
  return {'busy', redis.call('pttl', KEYS[1])}
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'locked', redis.call('get', KEYS[2]) or ''}
"""

# KEYS[1] the lock, KEYS[2] the lock's wake-up list, KEYS[3] (a change written) the hand-off list.
# ARGV: owner, the lock's ttl_ms, the change's events for the publisher, the list's longest. Delete the
# lock only while it still holds our owner token (never release someone else's), and then wake the
# longest waiter: one token, kept at most the lock's TTL, so a release nobody waited for leaves nothing
# behind for long. The events are handed off whoever holds the lock now: the write they belong to is
# made. A list nobody takes from (the publisher stopped) keeps only its newest: the outboxes keep all.
RELEASE_IF_OWNER = """
if KEYS[3] then
  if redis.call('rpush', KEYS[3], ARGV[3]) > tonumber(ARGV[4]) then
    redis.call('ltrim', KEYS[3], -tonumber(ARGV[4]), -1)
  end
end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('rpush', KEYS[2], '1')
  redis.call('ltrim', KEYS[2], -1, -1)
  redis.call('pexpire', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# KEYS: relay markers; ARGV: what is newly published for each ("<through> <version> ...", through
# -1 for none), then the markers' ttl_s. Merged as `domain.Relayed.merged` does: `through` only
# rises, and climbs over the listed versions that follow it without a gap, so the list stays short.
RECORD_PUBLISHED = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  local through = -1
  local above = {}
  for _, text in ipairs({redis.call('get', key) or '-1', ARGV[i]}) do
    local first = true
    for word in string.gmatch(text, '%S+') do
      local v = tonumber(word)
      if first then
        if v > through then through = v end
        first = false
      else
        above[v] = true
      end
    end
  end
  while above[through + 1] do through = through + 1 end
  local out = {tostring(through)}
  for v, _ in pairs(above) do
    if v > through then table.insert(out, tostring(v)) end
  end
  redis.call('set', key, table.concat(out, ' '), 'EX', ttl)
end
return #KEYS
"""

# KEYS[1] the key's record. ARGV: slot, body hash, the refusal (JSON), ttl_s. Keep the refusal as
# the key's first answer unless the record already holds another slot, body or refusal: then
# return what it holds. A bare claim (a booking attempt that died, or is in flight) is taken over.
REMEMBER_REFUSAL = """
local seen = redis.call('hmget', KEYS[1], 'slot', 'body', 'refusal')
if seen[1] and (seen[1] ~= ARGV[1] or seen[2] ~= ARGV[2] or seen[3]) then
  return {'recorded', seen[1], seen[2], seen[3] or ''}
end
redis.call('hset', KEYS[1], 'slot', ARGV[1], 'body', ARGV[2], 'refusal', ARGV[3])
redis.call('expire', KEYS[1], ARGV[4])
return {'remembered'}
"""


class SlotLock:
    # One blocking wait at most this long, well inside the client's socket timeout (0.5 s), which would
    # otherwise take a long wait for a stalled Redis; a longer LOCK_WAIT_MS blocks again.
    MAX_BLOCK_S = 0.25

    def __init__(
        self,
        client: redis.Redis,
        ttl_ms: int = 2000,
        wait_ms: int = 300,
        clock: Callable[[], float] = time.monotonic,
        observe_wait: Callable[[float], None] | None = None,
        hand_off_key: str = HAND_OFF_KEY,
        hand_off_max: int = HAND_OFF_MAX,
    ) -> None:
        self.client = client
        self.hand_off_key = hand_off_key  # the publisher's list (`opd.handoff`)
        self.hand_off_max = hand_off_max
        self.observe_wait = observe_wait  # told each acquisition's wait in ms (the LockWaitMs metric)
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self._clock = clock

    @staticmethod
    def key(slot_id: str) -> str:
        return f"lock:slot:{slot_id}"

    @staticmethod
    def free_key(slot_id: str) -> str:
        """Where a release wakes the next waiter."""
        return f"lock:slot:{slot_id}:free"

    @staticmethod
    def record_key(key: str) -> str:
        return f"idempotency:booking:{key}"

    @staticmethod
    def marker_key(slot_id: str) -> str:
        return f"relayed:slot:{slot_id}"

    def acquire(self, slot_id: str, claim: KeyClaim | None = None) -> Held | KeyRecord:
        """Hold the slot's lock, waiting for its release (or its holder's TTL) for at most `wait_ms`.

        With a claim, the key's record is claimed in the same round trip; a record that decides the
        answer (another slot or body, a remembered refusal) is returned instead, and no lock taken.
        """
        owner = secrets.token_hex(16)
        keys: list[str] = [self.key(slot_id), self.marker_key(slot_id)]
        args: list[str | int] = [owner, self.ttl_ms]
        if claim is not None:
            keys.append(self.record_key(claim.key))
            args += [claim.slot_id, claim.body, claim.ttl_s]
        began = self._clock()
        give_up_at = began + self.wait_ms / 1000
        tries = 0
        while True:
            tries += 1
            try:
                reply = self._script(ACQUIRE, keys, args)
            except DependencyUnavailable:
                # A script whose reply timed out may still have run (a stalled Redis runs what it
                # has received once it resumes): drop our lock if it is there, so it blocks nobody.
                self._forget(slot_id, owner)
                raise
            if reply[0] == b"locked":
                if self.observe_wait is not None:
                    self.observe_wait((self._clock() - began) * 1000)
                return Held(owner, waited=tries > 1, relayed=parse_marker(reply[1] or None))
            if reply[0] == b"recorded":
                return _record(reply)
            left = give_up_at - self._clock()
            if left <= 0:
                # A holder finishes in milliseconds or its lock expires within the TTL.
                raise SlotBusy(f"slot {slot_id} is busy, try again", retry_after_seconds=1)
            holder_left = int(reply[1]) / 1000 if len(reply) > 1 and int(reply[1]) > 0 else left
            self._wait_for_release(slot_id, min(left, holder_left, self.MAX_BLOCK_S))

    def _wait_for_release(self, slot_id: str, seconds: float) -> None:
        """Block until the holder's release wakes us (first come, first served), or `seconds` pass."""
        with redis_errors():
            # BLPOP's timeout 0 means forever: never less than a millisecond.
            self.client.blpop([self.free_key(slot_id)], timeout=max(seconds, 0.001))

    def release(self, slot_id: str, owner: str, hand_off: str | None = None) -> bool:
        """Let go of the lock if `owner` holds it; with `hand_off`, the written change's events go to the
        publisher in the same script (`opd.handoff`)."""
        keys = [self.key(slot_id), self.free_key(slot_id)]
        args: list[str | int] = [owner, self.ttl_ms]
        if hand_off is not None:
            keys.append(self.hand_off_key)
            args += [hand_off, self.hand_off_max]
        return bool(self._script(RELEASE_IF_OWNER, keys, args))

    def release_quietly(self, slot_id: str, owner: str, hand_off: str | None = None) -> None:
        """Release on the way out of a request, whatever happened in it; never fails the request."""
        try:
            self.release(slot_id, owner, hand_off)
        except DependencyUnavailable as exc:
            # The work is done (or refused) already; the lock expires by its TTL, and events not handed
            # off wait in the slot's outbox for the relay.
            log.warning("lock not released, it expires by its TTL: %s (slot %s)", exc.message, slot_id)

    def published_marks(self, slot_ids: Sequence[str]) -> dict[str, Relayed]:
        """The relay markers of these slots, in one MGET; slots without one are left out."""
        if not slot_ids:
            return {}
        with redis_errors():
            values = cast(list[bytes | None], self.client.mget([self.marker_key(s) for s in slot_ids]))
        return {s: parse_marker(value) for s, value in zip(slot_ids, values, strict=True) if value is not None}

    def record_published(self, marks: Mapping[str, Relayed]) -> None:
        """Add to each slot's relay marker what is newly published, in one script."""
        if not marks:
            return
        keys = [self.marker_key(slot_id) for slot_id in marks]
        self._script(RECORD_PUBLISHED, keys, [*map(format_marker, marks.values()), MARKER_TTL_S])

    def remember_refusal(self, claim: KeyClaim, refusal: str) -> KeyRecord | None:
        """Keep `refusal` as the key's first answer: None if it now is, else the record that decides."""
        args: list[str | int] = [claim.slot_id, claim.body, refusal, claim.ttl_s]
        reply = self._script(REMEMBER_REFUSAL, [self.record_key(claim.key)], args)
        return _record(reply) if reply[0] == b"recorded" else None

    def _forget(self, slot_id: str, owner: str) -> None:
        with contextlib.suppress(DependencyUnavailable):
            self.release(slot_id, owner)

    def _script(self, script: str, keys: list[str], args: list[str | int]) -> Any:
        with redis_errors():
            return cast(Any, self.client.eval(script, len(keys), *keys, *args))


def format_marker(relayed: Relayed) -> str:
    through = relayed.through if relayed.through is not None else -1
    return " ".join(map(str, (through, *sorted(relayed.versions))))


def parse_marker(value: bytes | None) -> Relayed:
    """A relay marker as stored ("<through> <version> ..."); an unreadable one counts as none (events go again)."""
    try:
        through, *versions = map(int, (value or b"").split())
    except ValueError:
        return Relayed()
    return Relayed(through if through >= 0 else None, frozenset(versions))


def _record(reply: list[bytes]) -> KeyRecord:
    _, slot_id, body, refusal = reply
    return KeyRecord(slot_id.decode(), body.decode(), refusal.decode() or None)
