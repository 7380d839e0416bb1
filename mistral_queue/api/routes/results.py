"""``GET /v1/jobs/{id}/results``: a job's result lines as JSONL, in order.

Batch jobs have one line per request, embeddings jobs one per input and OCR jobs one per page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aredis
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.batchstate import PAGE
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.model import JobType

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: Job kinds whose results are lines: batch (one per request), embeddings (one per input:
#: ``{"index", "embedding"}``) and OCR (one per page: Mistral's page object).
RESULT_KINDS = frozenset({JobType.BATCH, JobType.EMBEDDINGS, JobType.OCR})

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
    """A job's result lines so far, in order (batch: by input position; embeddings: by input
    index; OCR: by page).

    The lines are read from Redis page by page as they are sent, so a large batch is never
    held in memory. A finished job's results are kept as long as the job.
    """
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    if record.job.type not in RESULT_KINDS:
        kinds = ", ".join(sorted(RESULT_KINDS))
        message = f"job {job_id} is a {record.job.type} job; only {kinds} jobs have results lines"
        raise ApiError(409, "conflict", message)
    stored = await services.redis.hget(keys.batch_state(job_id), fields.BATCH_TOTAL)
    total = int(stored or record.job.request.get("count", 0))
    return StreamingResponse(_lines(services.redis, job_id, total), media_type=MEDIA_TYPE)
