"""Intake of a job with ``depends_on``: its dependencies exist, its references are sound.

The body was validated with each ``$from`` reference read as a string (``schemas/jobs.py``);
the stored ``request`` is the one the caller sent, references included, so the scheduler can
resolve them once the dependencies succeeded (``jobs/dependencies.py``).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis

from mistral_queue.api.errors import ApiError
from mistral_queue.jobs import dependencies as deps
from mistral_queue.jobs import keys


def _invalid(field: str, message: str) -> ApiError:
    details = [{"field": field, "message": message, "type": "value_error"}]
    return ApiError(422, "validation_error", f"{field}: {message}", details)


async def checked_request(
    client: aredis.Redis, tenant: str, body: Any, sent: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The request to store for ``body`` when it has dependencies (and so may have references).

    None when it has none: the validated request is stored then.

    Args:
        client: the job store's Redis.
        tenant: the caller's tenant; a dependency must be one of its jobs.
        body: the validated job body (``depends_on``, ``run_at``, ``delay_seconds``, ``type``).
        sent: the ``request`` object exactly as the caller sent it (None for a batch job).

    Raises:
        ApiError: 422 for an unknown (or another tenant's) dependency, a bad reference, or
            ``depends_on`` with a start time or on a batch job.
    """
    depends_on: list[str] = body.depends_on or []
    if sent is None or body.type == "batch":
        if depends_on:
            raise _invalid("depends_on", "a batch job cannot have dependencies")
        return None
    if not depends_on:
        # Without depends_on a {"$from"} object is no reference: it stays as sent, and where
        # Mistral expects text (a message's content) validation has already refused it.
        return None
    if depends_on and (body.run_at is not None or body.delay_seconds is not None):
        raise _invalid("depends_on", "a job with dependencies cannot also have a start time")
    try:
        deps.check_refs(sent, depends_on)
    except deps.ReferenceError as exc:
        raise _invalid(exc.field, str(exc).removeprefix(f"{exc.field}: ")) from None
    pipe = client.pipeline(transaction=False)
    for job_id in depends_on:
        pipe.hget(keys.job(job_id), "tenant")
    owners = await pipe.execute()
    for index, (job_id, owner) in enumerate(zip(depends_on, owners, strict=True)):
        if owner != tenant:
            raise _invalid(f"depends_on.{index}", f"no job {job_id}")
    return sent
