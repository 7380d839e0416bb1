"""``/v1/jobs``: submit a job and read it back."""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from mistral_queue import tracing
from mistral_queue.api.deps import Services, ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.intake import batch as batch_intake
from mistral_queue.api.intake import budget, chains
from mistral_queue.api.intake.lanes import check_lanes
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.schemas.agent import check_tool_urls
from mistral_queue.api.schemas.jobs import (
    AgentJobCreate,
    BatchJobCreate,
    ErrorBody,
    JobCreate,
    JobList,
    SingleJobCreate,
    request_body,
)
from mistral_queue.jobs import changes, delayed, keys, listing
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.listing import JobFilter
from mistral_queue.jobs.model import (
    Job,
    JobRecord,
    JobStatus,
    JobType,
    initial_fields,
    new_job_id,
)
from mistral_queue.jobs.store import NewJob, body_digest
from mistral_queue.webhooks.guard import check_url_async

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=OrjsonRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 503)
}


def _job_response(job: Job, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(job.model_dump(mode="json"), status_code=status, headers=headers)


@router.post(
    "",
    status_code=202,
    response_model=Job,
    responses={
        **ERRORS,
        200: {"model": Job, "description": "An Idempotency-Key replay."},
        429: {"model": ErrorBody, "description": "The tenant is past a budget."},
    },
)
async def create_job(
    body: JobCreate,
    tenant: TenantDep,
    services: ServicesDep,
    raw: Request,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Accept a job: 202 once it is stored in Redis and its message is with the broker."""
    settings = services.settings
    await budget.admit(services.redis, settings, tenant)
    if body.callback_url:
        await check_url_async(body.callback_url, settings.callback_allow_hosts)
    if isinstance(body, AgentJobCreate):
        await check_tool_urls(body.request, settings.callback_allow_hosts)
    await check_lanes(services.redis, settings, tenant, body)
    job_type = JobType(body.type)
    now = time.time()
    run_at = _due_at(body, now, settings.max_delay_seconds)
    start = now if run_at is None else run_at
    job_id = new_job_id()
    sent = orjson.loads(await raw.body()).get("request") if body.depends_on else None
    chained = await chains.checked_request(services.redis, tenant, body, sent)
    request, digest, batch = await _prepared(body, raw, services, job_id)
    request = chained or request
    fields = initial_fields(
        job_id=job_id,
        tenant=tenant,
        job_type=job_type,
        request=request,
        metadata=body.metadata,
        callback_url=body.callback_url,
        deadline=start + settings.job_deadline_seconds,
        priority=body.priority,
        run_at=run_at,
        depends_on=body.depends_on,
    )
    fields.update(tracing.job_fields())
    new = NewJob(
        job_id=job_id,
        tenant=tenant,
        fields=fields,
        watch_at=start + settings.requeue_after_seconds,
        idempotency_key=idempotency_key,
        body_sha256=digest,
    )
    accepted = False
    try:
        created = await services.store.create(new)
        if not created.created:
            replay = await services.store.get(created.job_id, tenant=tenant)
            if replay is None:
                raise JobNotFound(created.job_id)
            return _job_response(replay.job, 200, {"Idempotent-Replayed": "true"})
        try:
            if fields["status"] == JobStatus.QUEUED:
                await services.publisher.run_job(job_type, job_id)
        except BaseException:
            # Nothing half-done: a job the broker never got is not accepted.
            await services.store.delete(new)
            raise
        accepted = True
    finally:
        if batch and not accepted:
            await batch.discard(services.redis)
    return _job_response(JobRecord.from_hash(fields).job, 202)


def _due_at(body: SingleJobCreate | BatchJobCreate, now: float, max_delay: float) -> float | None:
    try:
        return delayed.due_at(body.run_at, body.delay_seconds, now=now, max_delay=max_delay)
    except delayed.StartTimeError as exc:
        details = [{"field": exc.field, "message": str(exc), "type": "value_error"}]
        raise ApiError(422, "validation_error", str(exc), details) from None


async def _prepared(
    body: SingleJobCreate | BatchJobCreate,
    raw: Request,
    services: Services,
    job_id: str,
) -> tuple[dict[str, Any], str, batch_intake.PreparedBatch | None]:
    """The job's ``request`` field and body digest; a batch's requests are stored meanwhile."""
    settings = services.settings
    if isinstance(body, BatchJobCreate):
        batch = await batch_intake.accept(services.redis, settings, job_id, body)
        return batch.summary, batch.digest, batch
    if len(await raw.body()) > settings.max_body_bytes:
        # The body limit lets batch-sized bodies through this route; others keep theirs.
        message = f"the request body is larger than {settings.max_body_bytes} bytes"
        raise ApiError(413, "too_large", message)
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return request_body(body), body_digest(canonical), None


@router.get("/{job_id}", response_model=Job, responses=ERRORS)
async def get_job(job_id: str, tenant: TenantDep, services: ServicesDep) -> Job:
    """The job, as stored now; another tenant's job is 404."""
    return (await _owned(services, job_id, tenant)).job


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    tenant: TenantDep,
    services: ServicesDep,
    status: Annotated[list[JobStatus], Query(description="Keep these statuses.")] = [],  # noqa: B006
    type: Annotated[list[JobType], Query(description="Keep these job types.")] = [],  # noqa: B006
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=100, pattern=r"^\d{1,15}:job_\w+$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobList:
    """The tenant's jobs, newest first; pass ``next_cursor`` back as ``cursor`` for more."""
    filters = JobFilter(set(status), set(type), _ms(created_after), _ms(created_before))
    try:
        records, next_cursor = await listing.list_jobs(
            services.redis, tenant, filters, cursor, limit
        )
    except listing.BadCursor:
        details = [{"field": "cursor", "message": "malformed", "type": "value_error"}]
        message = "cursor: not a cursor this API returned"
        raise ApiError(422, "validation_error", message, details) from None
    return JobList(data=[r.job for r in records], next_cursor=next_cursor)


async def _owned(services: Services, job_id: str, tenant: str) -> JobRecord:
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    return record


@router.post("/{job_id}/cancel", response_model=Job, responses=ERRORS)
async def cancel_job(job_id: str, tenant: TenantDep, services: ServicesDep) -> Job:
    """Cancel a queued, retrying, waiting or running job; a finished one is 409.

    A queued job never reaches Mistral; a running one stops at its next step. The job ends
    ``cancelled`` and its ``job.cancelled`` callback is sent.
    """
    record = await _owned(services, job_id, tenant)
    await services.store.apply(job_id, tenant, changes.cancel())
    try:
        await services.publisher.revoke(job_id)
    except Exception as exc:
        # Revoking only saves a worker a lookup: a cancelled job is never run anyway.
        log.warning("revoke of %s failed: %s", job_id, exc)
    if record.job.type == JobType.BATCH:
        # Mistral's batch job stops too (the batch's next poll also would, later).
        await services.publisher.cancel_batch(job_id)
    if record.job.callback.url:
        await services.publisher.deliver_callback(job_id)
    else:
        await services.publisher.fan_out_to_endpoints(job_id, tenant)
    return (await _owned(services, job_id, tenant)).job


async def _limit_redelivery(services: Services, job_id: str) -> None:
    key = keys.redeliver_limit(job_id)
    interval_ms = max(1, int(services.settings.callback_redeliver_interval_seconds * 1000))
    if await services.redis.set(key, "1", nx=True, px=interval_ms):
        return
    wait = max(1, math.ceil(max(0, await services.redis.pttl(key)) / 1000))
    raise ApiError(
        429,
        "rate_limited",
        f"job {job_id}'s callback was redelivered moments ago; try again in {wait} s",
        {"retry_after": wait},
        headers={"Retry-After": str(wait)},
    )


@router.post(
    "/{job_id}/callback/redeliver",
    status_code=202,
    response_model=Job,
    responses={**ERRORS, 429: {"model": ErrorBody}},
)
async def redeliver_callback(job_id: str, tenant: TenantDep, services: ServicesDep) -> Job:
    """Send the finished job's final callback again, with the same ``webhook-id``.

    At most one redelivery per job every ``callback_redeliver_interval_seconds``; more is
    429 ``rate_limited`` with ``Retry-After``, so a client loop cannot flood a receiver.
    """
    record = await _owned(services, job_id, tenant)
    if not record.job.callback.url:
        raise ApiError(409, "conflict", f"job {job_id} has no callback_url")
    await _limit_redelivery(services, job_id)
    await services.store.apply(job_id, tenant, changes.redeliver())
    await services.publisher.deliver_callback(job_id)
    return (await _owned(services, job_id, tenant)).job
