"""``POST /v1/jobs/{id}/retry`` and ``POST /v1/jobs/replay``: run failed or cancelled jobs again."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.api.deps import Services, ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.routes.jobs import ERRORS
from mistral_queue.jobs import keys, listing
from mistral_queue.jobs.errors import InvalidTransition, JobNotFound
from mistral_queue.jobs.listing import JobFilter
from mistral_queue.jobs.model import Job, JobRecord, JobStatus, JobType
from mistral_queue.jobs.rerun import RERUNNABLE, RETRYABLE, rerun, run_task_id

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=OrjsonRoute)

#: Most jobs one replay runs again; pages of the listing it reads at most.
MAX_REPLAY = 1000
MAX_PAGES = 50


class ReplayRequest(BaseModel):
    """Which of the tenant's finished jobs to run again."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["failed", "cancelled"]
    type: JobType | None = None
    error_type: str | None = Field(default=None, max_length=100)
    created_after: datetime | None = None
    created_before: datetime | None = None


class Replayed(BaseModel):
    """How many jobs a replay queued again (at most 1,000 per call)."""

    replayed: int


async def _rerun(services: Services, record: JobRecord) -> JobRecord | None:
    """Queue ``record`` again, keep its keys past retention, and publish it; returns the job
    as queued (read before the publish, so a fast worker cannot have moved it on yet).

    Raises:
        InvalidTransition: its status moved on meanwhile.
    """
    settings = services.settings
    now = time.time()
    change = rerun(
        record,
        deadline=now + settings.job_deadline_seconds,
        watch_until=now + settings.requeue_after_seconds,
    )
    await services.store.apply(record.id, record.tenant, change)
    # A final job's keys expire after the retention period; a job running again must not.
    async with services.redis.pipeline(transaction=False) as pipe:
        pipe.persist(keys.job(record.id))
        pipe.persist(keys.job_events(record.id))
        await pipe.execute()
    queued = await services.store.get(record.id)
    task_id = run_task_id(record.id, record.job.retries + 1)
    await services.publisher.run_job(record.job.type, record.id, task_id)
    return queued


@router.post("/{job_id}/retry", status_code=202, response_model=Job, responses=ERRORS)
async def retry_job(job_id: str, tenant: TenantDep, services: ServicesDep) -> Job:
    """Run a failed or cancelled job again: same id, fresh attempts, a new final callback.

    Its earlier events stay in its log; anything else is 409.
    """
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    if record.status not in RETRYABLE:
        message = f"job {job_id} is {record.status.value}; only failed or cancelled jobs retry"
        raise ApiError(409, "conflict", message)
    if record.job.type not in RERUNNABLE:
        raise ApiError(409, "conflict", "a batch job cannot be retried; submit it again")
    queued = await _rerun(services, record)
    if queued is None:
        raise JobNotFound(job_id)
    return queued.job


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _matches(record: JobRecord, body: ReplayRequest) -> bool:
    if record.job.type not in RERUNNABLE:
        return False
    return body.error_type is None or (record.job.error or {}).get("type") == body.error_type


@router.post("/replay", response_model=Replayed, responses=ERRORS)
async def replay_jobs(body: ReplayRequest, tenant: TenantDep, services: ServicesDep) -> Replayed:
    """Retry the tenant's jobs matching ``body``, newest first, at most 1,000 per call.

    Call again for more: jobs replayed already are no longer failed or cancelled.
    """
    types = {body.type} if body.type else set()
    filters = JobFilter(
        {JobStatus(body.status)}, types, _ms(body.created_after), _ms(body.created_before)
    )
    replayed = 0
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page, cursor = await listing.list_jobs(services.redis, tenant, filters, cursor, 100)
        for record in page:
            if replayed < MAX_REPLAY and _matches(record, body):
                try:
                    await _rerun(services, record)
                except InvalidTransition:
                    continue
                replayed += 1
        if cursor is None or replayed >= MAX_REPLAY:
            break
    return Replayed(replayed=replayed)
