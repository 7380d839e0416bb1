"""``GET /v1/jobs/{id}/results``: a batch job's result lines as JSONL, in input order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aredis
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.jobs import keys
from mistral_queue.jobs.batchstate import PAGE
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.model import JobType

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MEDIA_TYPE = "application/x-ndjson"

_LINE_SCHEMA = {
    "type": "string",
    "description": (
        'One JSON object per line: {"custom_id", "response": {"status_code", "body"}} for a '
        'request that succeeded, {"custom_id", "error": {"type", "message", "status_code", '
        '"details"}} for one that failed.'
    ),
}


async def _lines(client: aredis.Redis, job_id: str, total: int) -> AsyncIterator[str]:
    """The stored result lines, one page of PAGE positions per Redis round trip."""
    key = keys.batch_results(job_id)
    for start in range(0, total, PAGE):
        found: list[Any] = await client.hmget(key, list(range(start, min(start + PAGE, total))))
        chunk = "".join(f"{line}\n" for line in found if line is not None)
        if chunk:
            yield chunk


@router.get(
    "/{job_id}/results",
    response_class=StreamingResponse,
    responses={
        200: {"content": {MEDIA_TYPE: {"schema": _LINE_SCHEMA}}, "description": "JSONL."},
        **{code: {"model": ErrorBody} for code in (401, 404, 409)},
    },
)
async def batch_results(job_id: str, tenant: TenantDep, services: ServicesDep) -> StreamingResponse:
    """A batch job's results so far: one line per request that has one, in input order.

    The lines are read from Redis page by page as they are sent, so a large batch is never
    held in memory. A finished job's results are kept as long as the job.
    """
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    if record.job.type != JobType.BATCH:
        raise ApiError(409, "conflict", f"job {job_id} is a {record.job.type} job, not a batch")
    stored = await services.redis.hget(keys.batch_state(job_id), keys.BATCH_TOTAL)
    total = int(stored or record.job.request.get("count", 0))
    return StreamingResponse(_lines(services.redis, job_id, total), media_type=MEDIA_TYPE)
