"""Per-tenant concurrency caps, so one tenant's burst cannot starve the others.

Each tenant has a sorted set of the jobs it runs now, scored by when each claim lapses (a dead
worker's claim expires by itself), and a sorted set of *parked* jobs waiting for room. A job
over its tenant's cap is parked and its message acked: it holds no worker slot and no prefetch
slot, so the queue moves on to other tenants' jobs. When one of the tenant's jobs stops, the
same atomic step frees its slot and hands back the oldest parked job to publish again, so no
wake-up is lost between parking and releasing. (A slot that lapses with a dead worker wakes
nobody; the recovery sweep publishes such parked jobs after ``requeue_after_seconds``.)
"""

from __future__ import annotations

import time
from typing import Any

import redis

from mistral_queue.jobs import keys

# KEYS: running, parked. ARGV: now, member, cap, claim lapses at, key TTL ms, park score.
# Drop lapsed claims; claim a slot when there is room (or the job holds one), else park it.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[6], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
"""

# KEYS: running, parked. ARGV: member. Free the slot and pop the oldest parked job, if any.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
local next = redis.call('ZPOPMIN', KEYS[2])
return next[1] or false
"""


def member(job_type: str, job_id: str) -> str:
    """How a job is named in the slot sets: ``<type>:<job id>``, so a woken job's task is known."""
    return f"{job_type}:{job_id}"


class TenantSlots:
    """Claims, parks and releases a tenant's running slots."""

    def __init__(self, client: redis.Redis, cap: int | None, hold_seconds: float) -> None:
        self.redis = client
        self.cap = cap
        self.hold = hold_seconds
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def claim(self, tenant: str, name: str, created: float) -> bool:
        """Take (or renew) a slot for job ``name``; when the tenant is at its cap, park it.

        Args:
            tenant: the job's tenant.
            name: the job as :func:`member` names it.
            created: unix time the job was accepted (parked jobs wake oldest first).

        Returns:
            False when the job was parked: the caller acks its message and does not run it.
        """
        if self.cap is None:
            return True
        now = time.time()
        ttl_ms = int(self.hold * 2000)
        args: list[Any] = [now, name, self.cap, now + self.hold, ttl_ms, created]
        return bool(self._claim(keys=self._keys(tenant), args=args))

    def release(self, tenant: str, name: str) -> tuple[str, str] | None:
        """Give the slot back; returns ``(job type, job id)`` of a parked job to publish again."""
        if self.cap is None:
            return None
        woken = self._release(keys=self._keys(tenant), args=[name])
        if not woken:
            return None
        job_type, _, job_id = str(woken).partition(":")
        return job_type, job_id

    @staticmethod
    def _keys(tenant: str) -> list[str]:
        return [keys.tenant_running(tenant), keys.tenant_parked(tenant)]
