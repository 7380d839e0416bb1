"""The usage ledger: tokens and cost per job, per tenant per UTC day and month, in Redis.

Each upstream call first *reserves* its token estimate (and the estimate's cost) for its job
in the tenant's reserved hash, and *settles* after the call: the job's usage hash gains the
call's real ``usage``, and the reservation becomes that real usage. When the job finishes
(any final status, whoever sets it), :meth:`Booker.book` moves the job's usage into the
tenant's day and month hashes and drops its reservation, in one Lua step that runs once per
job. Budgets (jobs/budgets.py) therefore see finished usage plus what running jobs hold.

Usage hashes (job, day, month) share the fields ``prompt``, ``completion``, ``input_nano``,
``output_nano`` and per model ``m|<model>|prompt``, ``m|<model>|completion``,
``m|<model>|nano``; day and month hashes add ``jobs``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Any

import redis
import redis.asyncio as aredis

from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.pricing import PriceTable

_LUA = resources.files("mistral_queue.jobs").joinpath("lua")
_SETTLE = _LUA.joinpath("usage_settle.lua").read_text()
# Job hash field names come from ``keys`` (``${NAME}`` placeholders), as in jobs/store.py.
_BOOK = Template(_LUA.joinpath("usage_book.lua").read_text()).substitute(fields.LUA_FIELDS)

#: Seconds a day's and a month's usage hash are kept (the usage API looks back this far).
DAY_TTL = 401 * 86400
MONTH_TTL = 800 * 86400
#: Seconds a job's usage hash and a tenant's reservations outlive their last change.
HOLD_TTL = 8 * 86400


def day_of(ts: float) -> str:
    """The UTC day of unix time ``ts``: ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def month_of(ts: float) -> str:
    """The UTC month of unix time ``ts``: ``YYYY-MM``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def _tokens(usage: dict[str, Any] | None, name: str) -> int:
    value = (usage or {}).get(name)
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def _book_keys(job_id: str, tenant: str, now: float) -> list[str]:
    return [
        keys.job(job_id),
        keys.job_usage(job_id),
        keys.tenant_reserved(tenant),
        keys.tenant_usage(tenant, day_of(now)),
        keys.tenant_usage(tenant, month_of(now)),
    ]


class UsageLedger:
    """Reserve and settle the usage of upstream calls (sync, for worker threads)."""

    def __init__(self, client: redis.Redis, prices: PriceTable) -> None:
        self.redis = client
        self.prices = prices
        self._settle = client.register_script(_SETTLE)

    def reserve(self, job_id: str, tenant: str, tokens: int, nano: int) -> None:
        """Hold ``tokens`` (and ``nano`` nano-USD) for one call of the job until it settles."""
        key = keys.tenant_reserved(tenant)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, f"{job_id}|t", tokens)
        pipe.hincrby(key, f"{job_id}|n", nano)
        pipe.expire(key, HOLD_TTL)
        pipe.execute()

    def settle(
        self,
        job_id: str,
        tenant: str,
        model: str,
        usage: dict[str, Any] | None,
        reserved: tuple[int, int] = (0, 0),
    ) -> None:
        """Add one call's ``usage`` to the job and replace its reservation with it.

        Args:
            job_id: the job that made the call.
            tenant: the job's tenant.
            model: the model called (``agent:<id>`` for an agent).
            usage: Mistral's ``usage`` object (``prompt_tokens``, ``completion_tokens``), or
                None for a call that was not billed.
            reserved: ``(tokens, nano-USD)`` that :meth:`reserve` held for the call.
        """
        prompt = _tokens(usage, "prompt_tokens")
        completion = _tokens(usage, "completion_tokens")
        cost = self.prices.cost(model, prompt, completion)
        args: list[Any] = [
            model,
            prompt,
            completion,
            cost.input,
            cost.output,
            reserved[0],
            reserved[1],
            job_id,
            tenant,
            self.prices.label(model),
            HOLD_TTL,
        ]
        keys_ = [keys.job_usage(job_id), keys.tenant_reserved(tenant), keys.METRICS]
        self._settle(keys=keys_, args=args)


class Booker:
    """Books a finished job's usage; the job store calls it after every final change."""

    def __init__(self, client: redis.Redis) -> None:
        self._book = client.register_script(_BOOK)

    def book(self, job_id: str, tenant: str, retention: int, now: float | None = None) -> bool:
        """Book the finished job's usage into its tenant's day and month (once per job).

        Returns:
            False when it was booked already (or the job is gone).
        """
        keys_ = _book_keys(job_id, tenant, time.time() if now is None else now)
        return bool(self._book(keys=keys_, args=[job_id, DAY_TTL, MONTH_TTL, retention]))


class AsyncBooker:
    """:meth:`Booker.book` for the asyncio API (a job it cancels finishes there)."""

    def __init__(self, client: aredis.Redis) -> None:
        self._book = client.register_script(_BOOK)

    async def book(self, job_id: str, tenant: str, retention: int) -> bool:
        """See :meth:`Booker.book`."""
        keys_ = _book_keys(job_id, tenant, time.time())
        return bool(await self._book(keys=keys_, args=[job_id, DAY_TTL, MONTH_TTL, retention]))
