"""One job's upstream calls seen by its tenant: own rate limits, usage ledger and budgets.

Before each attempt the tenant's own ``rps`` / ``tpm`` (``MQ_TENANT_LIMITS``) are taken
from its limit group, then the attempt reserves the limiter's token estimate and its cost at
the model's dearer price, so budgets count a running call at its worst case until Mistral's
``usage`` replaces it (jobs/usage.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs.limits import resolve
from mistral_queue.jobs.usage import UsageLedger
from mistral_queue.mistral.limiter import LimitGroup, Reservation
from mistral_queue.tasks.runtime import Runtime

#: Seconds a worker process reuses a tenant's resolved limits between two calls.
LIMITS_CACHE_SECONDS = 5.0

_cache: dict[str, tuple[float, TenantLimits]] = {}
_lock = threading.Lock()


def tenant_limits(rt: Runtime, tenant: str) -> TenantLimits:
    """The tenant's limits, read at most every LIMITS_CACHE_SECONDS per process."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(tenant)
    if hit is not None and now - hit[0] < LIMITS_CACHE_SECONDS:
        return hit[1]
    limits = resolve(rt.settings, rt.redis, tenant)
    with _lock:
        _cache[tenant] = (now, limits)
    return limits


class CallMeter:
    """Reserves and settles the calls one job makes to one model."""

    def __init__(
        self,
        ledger: UsageLedger,
        job_id: str,
        tenant: str,
        model: str,
        rate: LimitGroup | None = None,
    ) -> None:
        self.ledger = ledger
        self.job_id = job_id
        self.tenant = tenant
        self.model = model
        #: The tenant's own rate limit group, when it has ``rps`` or ``tpm``.
        self.rate = rate
        self._held: tuple[int, int] | None = None
        self._rate_slot: Reservation | None = None

    @classmethod
    def of(cls, rt: Runtime, job_id: str, tenant: str, model: str) -> CallMeter:
        """The meter of a job's calls to ``model``, with its tenant's rate group if any."""
        limits = tenant_limits(rt, tenant)
        rate = None
        if limits.rps or limits.tpm:
            rate = LimitGroup(f"tenant:{tenant}", limits.rps, limits.tpm)
        return cls(rt.usage, job_id, tenant, model, rate)

    def reserve(self, tokens: int, take_rate: Any = None) -> None:
        """Take the tenant's rate slot (``take_rate(group)``), then hold ``tokens`` and their cost.

        Raises:
            RateLimitWait: the tenant's own limit has no slot soon (nothing is held then).
        """
        if self._held is not None:
            self.settle(None)
        if self.rate is not None and take_rate is not None:
            self._rate_slot = take_rate(self.rate)
        nano = self.ledger.prices.estimate(self.model, tokens)
        self.ledger.reserve(self.job_id, self.tenant, tokens, nano)
        self._held = (tokens, nano)

    def settle(self, usage: dict[str, Any] | None) -> None:
        """Replace the held reservation (if any) with the attempt's real ``usage``."""
        held, self._held = self._held or (0, 0), None
        total = (usage or {}).get("total_tokens")
        if self._rate_slot is not None:
            self._rate_slot.settle(int(total) if isinstance(total, int | float) else 0)
            self._rate_slot = None
        self.ledger.settle(self.job_id, self.tenant, self.model, usage, held)
