"""``/v1/jobs``: submit a job and read it back."""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.schemas import ErrorBody, JobCreate, request_body
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.model import Job, JobRecord, JobType, initial_fields, new_job_id
from mistral_queue.jobs.store import NewJob, body_digest
from mistral_queue.webhooks.guard import check_url_async

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 503)
}


def _job_response(job: Job, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(job.model_dump(mode="json"), status_code=status, headers=headers)


@router.post(
    "",
    status_code=202,
    response_model=Job,
    responses={**ERRORS, 200: {"model": Job, "description": "An Idempotency-Key replay."}},
)
async def create_job(
    body: JobCreate,
    tenant: TenantDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Accept a job: 202 once it is stored in Redis and its message is with the broker."""
    settings = services.settings
    if body.callback_url:
        await check_url_async(body.callback_url, settings.callback_allow_hosts)
    job_type = JobType(body.type)
    request = request_body(body)
    job_id = new_job_id()
    now = time.time()
    fields = initial_fields(
        job_id=job_id,
        tenant=tenant,
        job_type=job_type,
        request=request,
        metadata=body.metadata,
        callback_url=body.callback_url,
        deadline=now + settings.job_deadline_seconds,
    )
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    new = NewJob(
        job_id=job_id,
        tenant=tenant,
        fields=fields,
        watch_at=now + settings.requeue_after_seconds,
        idempotency_key=idempotency_key,
        body_sha256=body_digest(canonical),
    )
    created = await services.store.create(new)
    if not created.created:
        replay = await services.store.get(created.job_id, tenant=tenant)
        if replay is None:
            raise JobNotFound(created.job_id)
        return _job_response(replay.job, 200, {"Idempotent-Replayed": "true"})
    try:
        await services.publisher.run_job(job_type, job_id)
    except BaseException:
        # Nothing half-done: a job the broker never got is not accepted.
        await services.store.delete(new)
        raise
    return _job_response(JobRecord.from_hash(fields).job, 202)


@router.get("/{job_id}", response_model=Job, responses=ERRORS)
async def get_job(job_id: str, tenant: TenantDep, services: ServicesDep) -> Job:
    """The job, as stored now; another tenant's job is 404."""
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    return record.job
