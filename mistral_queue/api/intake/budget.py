"""Intake's side of budgets: past a budget, ``POST /v1/jobs`` is 429 ``budget_exceeded``.

Only for tenants with ``on_budget: "reject"`` (the default); with ``"wait"`` the job is
accepted and waits in the queue (tasks/budget_gate.py). ``Retry-After`` counts the seconds
to the end of the budget's window (the next UTC midnight or month).
"""

from __future__ import annotations

import time

import redis.asyncio as aredis

from mistral_queue.api.errors import ApiError
from mistral_queue.config import Settings
from mistral_queue.jobs.budgets import exceeded, has_budget, read_spend_async
from mistral_queue.jobs.limits import resolve_async


async def admit(client: aredis.Redis, settings: Settings, tenant: str) -> None:
    """Refuse a new job of ``tenant`` when it is past a budget and rejects there.

    Raises:
        ApiError: 429 ``budget_exceeded`` with ``Retry-After`` and ``details``
            ``{"budget", "limit", "used", "resets_at"}``.
    """
    limits = await resolve_async(settings, client, tenant)
    if not has_budget(limits) or limits.on_budget != "reject":
        return
    now = time.time()
    over = exceeded(limits, await read_spend_async(client, tenant, now), now)
    if over is not None:
        raise ApiError(
            429,
            "budget_exceeded",
            over.message(),
            over.details(),
            headers={"Retry-After": str(over.retry_after(now))},
        )
