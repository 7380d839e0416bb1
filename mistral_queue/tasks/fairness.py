"""Per-tenant concurrency caps, so one tenant's burst cannot starve the others.

Each tenant has a sorted set of the jobs it runs now, scored by when the claim lapses (a dead
worker's claim expires by itself). A job over its tenant's cap is not run: its task is put
back with a short jittered countdown, holding no worker slot, and starts when there is room.
"""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from mistral_queue.jobs import keys

# Drop lapsed claims, then claim a slot when the tenant has room (or already holds one).
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class TenantSlots:
    """Claims and releases a tenant's running slots."""

    def __init__(self, client: redis.Redis, cap: int | None, hold_seconds: float) -> None:
        self.redis = client
        self.cap = cap
        self.hold = hold_seconds
        self._claim = client.register_script(_CLAIM)

    def claim(self, tenant: str, job_id: str) -> bool:
        """Take (or renew) a slot for ``job_id``; False when the tenant is at its cap."""
        if self.cap is None:
            return True
        now = time.time()
        args: list[Any] = [now, job_id, self.cap, now + self.hold, int(self.hold * 2000)]
        return bool(self._claim(keys=[keys.tenant_running(tenant)], args=args))

    def release(self, tenant: str, job_id: str) -> None:
        """Give the slot back when the job stops running."""
        if self.cap is not None:
            self.redis.zrem(keys.tenant_running(tenant), job_id)

    @staticmethod
    def backoff() -> float:
        """Seconds to wait before trying a capped job again (jittered against herds)."""
        return random.uniform(0.5, 2.0)
