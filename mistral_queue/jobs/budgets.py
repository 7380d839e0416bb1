"""Token and dollar budgets per tenant per UTC day and month (``tokens_per_day``, ...).

A budget is *past* once what the tenant's finished jobs used in the window plus what its
unfinished jobs hold (jobs/usage.py: reservations, settled with real usage) reaches it. The
intake API then refuses new jobs with 429 ``budget_exceeded`` and ``Retry-After`` to the end
of the window (``on_budget: "reject"``), or accepts them and the workers keep them queued
until the window resets (``"wait"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import redis.asyncio as aredis

from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import keys
from mistral_queue.jobs.pricing import NANO, usd
from mistral_queue.jobs.usage import day_of, month_of


@dataclass(frozen=True)
class Spend:
    """What a tenant used in the current windows, and what its unfinished jobs hold."""

    day_tokens: int = 0
    month_tokens: int = 0
    month_nano: int = 0
    reserved_tokens: int = 0
    reserved_nano: int = 0


@dataclass(frozen=True)
class Exceeded:
    """A budget that is past: which, its limit, the amount counted, when its window ends."""

    budget: str
    limit: float
    used: float
    resets_at: float

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends (at least 1): the ``Retry-After`` value."""
        return max(1, math.ceil(self.resets_at - now))

    def details(self) -> dict[str, Any]:
        """The error's ``details``: ``{"budget", "limit", "used", "resets_at"}``."""
        when = datetime.fromtimestamp(self.resets_at, UTC).isoformat().replace("+00:00", "Z")
        return {"budget": self.budget, "limit": self.limit, "used": self.used, "resets_at": when}

    def message(self) -> str:
        return f"the tenant's {self.budget} budget of {self.limit:g} is used up"


def day_end(now: float) -> float:
    """Unix time of the next UTC midnight after ``now``."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


def month_end(now: float) -> float:
    """Unix time of the first instant of the next UTC month after ``now``."""
    at = datetime.fromtimestamp(now, UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def exceeded(limits: TenantLimits, spend: Spend, now: float) -> Exceeded | None:
    """The first budget of ``limits`` that ``spend`` has reached, or None."""
    checks = (
        ("tokens_per_day", limits.tokens_per_day, spend.day_tokens, day_end),
        ("tokens_per_month", limits.tokens_per_month, spend.month_tokens, month_end),
    )
    for name, limit, used, end in checks:
        if limit is not None and used + spend.reserved_tokens >= limit:
            return Exceeded(name, limit, used + spend.reserved_tokens, end(now))
    if limits.usd_per_month is not None:
        nano = spend.month_nano + spend.reserved_nano
        if nano >= limits.usd_per_month * NANO:
            return Exceeded("usd_per_month", limits.usd_per_month, usd(nano), month_end(now))
    return None


def has_budget(limits: TenantLimits) -> bool:
    """Whether any budget is set (else reading the spend can be skipped)."""
    return any(
        v is not None
        for v in (limits.tokens_per_day, limits.tokens_per_month, limits.usd_per_month)
    )


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _commands(pipe: Any, tenant: str, now: float) -> Any:
    pipe.hmget(keys.tenant_usage(tenant, day_of(now)), ["prompt", "completion"])
    month_fields = ["prompt", "completion", "input_nano", "output_nano"]
    pipe.hmget(keys.tenant_usage(tenant, month_of(now)), month_fields)
    pipe.hgetall(keys.tenant_reserved(tenant))
    return pipe


def _spend(replies: list[Any]) -> Spend:
    day, month, reserved = replies
    held_tokens = sum(_int(v) for k, v in reserved.items() if k.endswith("|t"))
    held_nano = sum(_int(v) for k, v in reserved.items() if k.endswith("|n"))
    return Spend(
        day_tokens=_int(day[0]) + _int(day[1]),
        month_tokens=_int(month[0]) + _int(month[1]),
        month_nano=_int(month[2]) + _int(month[3]),
        reserved_tokens=max(0, held_tokens),
        reserved_nano=max(0, held_nano),
    )


def read_spend(client: redis.Redis, tenant: str, now: float) -> Spend:
    """The tenant's :class:`Spend` (one pipelined round trip)."""
    return _spend(_commands(client.pipeline(transaction=False), tenant, now).execute())


async def read_spend_async(client: aredis.Redis, tenant: str, now: float) -> Spend:
    """See :func:`read_spend`."""
    return _spend(await _commands(client.pipeline(transaction=False), tenant, now).execute())
