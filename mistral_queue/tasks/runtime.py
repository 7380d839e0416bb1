"""What a worker process shares between its task threads: settings, Redis, the job store."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import redis

from mistral_queue.config import Settings, get_settings
from mistral_queue.jobs.lease import Leases
from mistral_queue.jobs.pricing import PriceTable
from mistral_queue.jobs.store import JobStore
from mistral_queue.jobs.usage import UsageLedger
from mistral_queue.mistral.limiter import RateLimiter
from mistral_queue.mistral.retry import RetryPolicy
from mistral_queue.tasks.scheduling import Scheduler

#: Redis connections per worker process. Tasks hold one only for a command, so this bounds
#: concurrent commands, not jobs: a gevent worker with 1,000 greenlets waits for a free one
#: (``POOL_WAIT_SECONDS``) instead of failing with "Too many connections".
MAX_CONNECTIONS = 512
POOL_WAIT_SECONDS = 20


def redis_client(url: str) -> redis.Redis:
    """A sync Redis client of the process (any pool) over a blocking connection pool."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        socket_timeout=30,
        socket_connect_timeout=10,
        health_check_interval=25,
        retry_on_timeout=True,
    )
    return redis.Redis(connection_pool=pool)


@dataclass
class Runtime:
    """Per-process resources; build them lazily so a forked child makes its own."""

    settings: Settings

    @cached_property
    def redis(self) -> redis.Redis:
        return redis_client(self.settings.redis_url)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(
            self.redis,
            retention=self.settings.job_retention_seconds,
            idempotency_ttl=self.settings.idempotency_ttl_seconds,
        )

    @cached_property
    def leases(self) -> Leases:
        return Leases(self.redis, self.settings.lease_seconds)

    @cached_property
    def policy(self) -> RetryPolicy:
        return RetryPolicy.from_settings(self.settings)

    @cached_property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.redis, self.settings)

    @cached_property
    def usage(self) -> UsageLedger:
        return UsageLedger(self.redis, PriceTable(self.settings.model_prices))

    @cached_property
    def scheduler(self) -> Scheduler:
        # A started job's claim outlives the longest single upstream read, so a live job
        # keeps its room; a dead worker's lapses by itself.
        hold = max(3 * self.settings.lease_seconds, self.settings.mistral_read_timeout + 30)
        return Scheduler(self.redis, self.settings, hold)


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime, created on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(get_settings())
        return _runtime


def reset_runtime() -> None:
    """Forget the runtime (after fork, or at worker shutdown)."""
    global _runtime
    with _lock:
        if _runtime is not None and "leases" in _runtime.__dict__:
            _runtime.leases.close()
        _runtime = None
