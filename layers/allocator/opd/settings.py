"""Deployment settings, read once per execution environment from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Settings:
    delay_reduction_percent: int = 20  # a doctor delay cuts the base by this share
    lock_ttl_ms: int = 2000  # the mutex expires by itself if its holder dies
    lock_wait_ms: int = 300  # how long a request waits for a busy slot before 429
    no_show_grace_minutes: int = 15
    clinic_time_zone: str = "UTC"  # the zone a doctor's "date" is read in
    write_attempts: int = 5  # re-reads after a lost conditional write before giving up

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_time_zone)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        defaults = cls()
        return cls(
            delay_reduction_percent=int(env.get("DELAY_REDUCTION_PERCENT", defaults.delay_reduction_percent)),
            lock_ttl_ms=int(env.get("LOCK_TTL_MS", defaults.lock_ttl_ms)),
            lock_wait_ms=int(env.get("LOCK_WAIT_MS", defaults.lock_wait_ms)),
            no_show_grace_minutes=int(env.get("NO_SHOW_GRACE_MINUTES", defaults.no_show_grace_minutes)),
            clinic_time_zone=env.get("CLINIC_TIME_ZONE", defaults.clinic_time_zone),
        )
