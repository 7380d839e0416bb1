"""The worker's side of budgets: a job whose tenant is past a budget does not start.

With ``on_budget: "reject"`` such a job (accepted before the budget ran out) fails with
``budget_exceeded``; with ``"wait"`` it stays queued: a ``job.throttled`` event, its message
acked (no worker or prefetch slot held), and the recovery sweep publishes it again at the
window's end or after ``budget_recheck_seconds``, whichever is first. A waiting job still
ends at its deadline (``MQ_JOB_DEADLINE_SECONDS``).
"""

from __future__ import annotations

import time

from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import changes
from mistral_queue.jobs.budgets import exceeded, has_budget, read_spend
from mistral_queue.jobs.model import JobRecord, JobStatus
from mistral_queue.tasks.runtime import Runtime


def hold_back(rt: Runtime, record: JobRecord, limits: TenantLimits) -> changes.Change | None:
    """What to do with a job instead of starting it, or None to start it.

    Only a job that has not started (``queued``) is held back: one already running (a retry,
    a batch's poll) finishes whatever its tenant spends meanwhile.

    Returns:
        A final ``fail`` change (``budget_exceeded``, for ``reject``) or a ``throttled`` change
        that keeps the job queued (``wait``). No Redis round trip without budgets.
    """
    if record.status != JobStatus.QUEUED or not has_budget(limits):
        return None
    tenant = record.tenant
    now = time.time()
    over = exceeded(limits, read_spend(rt.redis, tenant, now), now)
    if over is None:
        return None
    if limits.on_budget == "reject":
        error = {"type": "budget_exceeded", "message": over.message(), "details": over.details()}
        return changes.fail(error)
    recheck = min(over.resets_at, now + rt.settings.budget_recheck_seconds)
    return changes.throttled(
        reason=f"budget:{over.budget}", delay=recheck - now, watch_until=recheck
    )
