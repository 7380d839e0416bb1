"""A tenant's own rps and tpm (MQ_TENANT_LIMITS) on a private redis-server."""

from __future__ import annotations

import secrets

import pytest
import redis

from mistral_queue.config import Settings
from mistral_queue.config_values import ModelPrice
from mistral_queue.jobs.budgets import read_spend
from mistral_queue.jobs.pricing import PriceTable
from mistral_queue.jobs.usage import UsageLedger
from mistral_queue.mistral.errors import RateLimitWait
from mistral_queue.mistral.limiter import LimitGroup, RateLimiter
from mistral_queue.tasks.attempt import CallLimit
from mistral_queue.tasks.metering import CallMeter

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def test_a_tenant_over_its_own_rps_waits_while_another_goes_on(
    private_redis: redis.Redis,
) -> None:
    settings = Settings(rate_limit_max_inline_wait=0.0)
    limiter = RateLimiter(private_redis, settings)
    ledger = UsageLedger(private_redis, PriceTable({"m": ModelPrice(input=1, output=1)}))
    slow, free = f"slow-{secrets.token_hex(3)}", f"free-{secrets.token_hex(3)}"
    group = LimitGroup(f"tenant:{slow}", rps=0.5, tpm=None)

    def limit(tenant: str, rate: LimitGroup | None) -> CallLimit:
        meter = CallMeter(ledger, f"job-{secrets.token_hex(3)}", tenant, "m", rate)
        return CallLimit(limiter, "m", BODY, meter)

    # Given the slow tenant took its one call of the next two seconds
    limit(slow, group).acquire()
    # Then its next call must wait for its own limit...
    blocked = limit(slow, group)
    with pytest.raises(RateLimitWait):
        blocked.acquire()
    # ...and holds nothing against its budget meanwhile
    assert (
        read_spend(private_redis, slow, 0).reserved_tokens == CallLimit(limiter, "m", BODY).estimate
    )
    # While a tenant without its own limit is not held back by it
    for _ in range(5):
        limit(free, None).acquire()
