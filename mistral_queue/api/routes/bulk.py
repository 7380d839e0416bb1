"""``POST /v1/jobs/bulk``: up to 1,000 jobs in one request, each validated and accepted alone.

Every item is a ``POST /v1/jobs`` body plus its own ``idempotency_key``; the answer lists one
outcome per item, in order: ``202`` with the job, ``200`` with the earlier job of a replayed
``idempotency_key``, ``409`` for a key used with another body, ``422`` for an invalid item.
The valid items are stored in one pipelined Redis round trip and published in another, so
a bulk request costs about what one job does (bench/bulk_intake.py). As for one job, the
answer comes only once every accepted job is in Redis and with the broker; if the broker
cannot be reached, none of them is kept (503).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from mistral_queue.api.deps import Services, ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError, validation_error
from mistral_queue.api.intake import budget, chains
from mistral_queue.api.intake.lanes import check_lanes
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.routes.jobs import ERRORS
from mistral_queue.api.schemas.agent import check_tool_urls
from mistral_queue.api.schemas.jobs import AgentJobCreate, BatchJobCreate, JobCreate, request_body
from mistral_queue.errors import MistralQueueError
from mistral_queue.jobs import delayed
from mistral_queue.jobs.errors import IdempotencyConflict
from mistral_queue.jobs.model import JobRecord, JobStatus, JobType, initial_fields, new_job_id
from mistral_queue.jobs.store import NewJob, body_digest
from mistral_queue.webhooks.errors import UnsafeURLError
from mistral_queue.webhooks.guard import check_url_async

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=OrjsonRoute)

#: Most jobs one bulk request may carry.
MAX_BULK = 1000

_JOB = TypeAdapter[Any](JobCreate)


class BulkRequest(BaseModel):
    """``{"jobs": [job body + "idempotency_key"?, …]}``; items are checked one by one."""

    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK)


class BulkResponse(BaseModel):
    """One ``{"index", "status", "job" | "error"}`` per item, in the request's order."""

    data: list[dict[str, Any]]


@dataclass
class _Item:
    index: int
    new: NewJob
    job_type: JobType
    publish: bool


def _error(
    index: int, status: int, type_: str, message: str, details: Any = None
) -> dict[str, Any]:
    error = {"type": type_, "message": message, "details": details}
    return {"index": index, "status": status, "error": error}


def _parse(index: int, raw: dict[str, Any]) -> tuple[Any, str | None]:
    """The item's job body and idempotency key.

    Raises:
        ApiError: 422, the item is invalid (or a batch job, which bulk does not take).
    """
    item = dict(raw)
    key = item.pop("idempotency_key", None)
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= 255 and key.isprintable()):
        details = [{"field": "idempotency_key", "message": "1-255 chars", "type": "string_type"}]
        raise ApiError(422, "validation_error", "idempotency_key: a string of 1-255 chars", details)
    try:
        body = _JOB.validate_python(item)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", *validation_error(exc.errors())) from None
    if isinstance(body, BatchJobCreate):
        message = "type: batch jobs are not taken in bulk; POST each to /v1/jobs"
        details = [{"field": "type", "message": message, "type": "value_error"}]
        raise ApiError(422, "validation_error", message, details)
    return body, key


async def _prepare(services: Services, tenant: str, index: int, raw: dict[str, Any]) -> _Item:
    """Validate one item and build its record.

    Raises:
        ApiError: 422 for a bad item; 403/404 for an agent, conversation or file outside the
            tenant's lanes, as ``POST /v1/jobs`` answers.
    """
    settings = services.settings
    body, key = _parse(index, raw)
    try:
        if body.callback_url:
            await check_url_async(body.callback_url, settings.callback_allow_hosts)
    except UnsafeURLError as exc:
        details = [{"field": "callback_url", "message": str(exc), "type": "unsafe_url"}]
        raise ApiError(422, "validation_error", f"callback_url: {exc}", details) from None
    if isinstance(body, AgentJobCreate):
        await check_tool_urls(body.request, settings.callback_allow_hosts)
    await check_lanes(services.redis, settings, tenant, body)
    now = time.time()
    try:
        run_at = delayed.due_at(
            body.run_at, body.delay_seconds, now=now, max_delay=settings.max_delay_seconds
        )
    except delayed.StartTimeError as exc:
        details = [{"field": exc.field, "message": str(exc), "type": "value_error"}]
        raise ApiError(422, "validation_error", str(exc), details) from None
    start = now if run_at is None else run_at
    job_id, job_type = new_job_id(), JobType(body.type)
    sent = raw.get("request")
    chained = await chains.checked_request(services.redis, tenant, body, sent)
    fields = initial_fields(
        job_id=job_id,
        tenant=tenant,
        job_type=job_type,
        request=chained or request_body(body),
        metadata=body.metadata,
        callback_url=body.callback_url,
        deadline=start + settings.job_deadline_seconds,
        priority=body.priority,
        run_at=run_at,
        depends_on=body.depends_on,
    )
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    new = NewJob(job_id, tenant, fields, start + settings.requeue_after_seconds, key,
                 body_digest(canonical))  # fmt: skip
    return _Item(index, new, job_type, publish=fields["status"] == JobStatus.QUEUED)


async def _outcomes(
    services: Services, tenant: str, items: list[_Item]
) -> dict[int, dict[str, Any]]:
    """Store and publish the valid items; the outcome of each by index."""
    store = services.store
    created = await store.create_many([item.new for item in items])
    fresh = [
        i for i, c in zip(items, created, strict=True) if not isinstance(c, Exception) and c.created
    ]
    try:
        await services.publisher.run_jobs([(i.job_type, i.new.job_id) for i in fresh if i.publish])
    except BaseException:
        for item in fresh:
            await store.delete(item.new)
        raise
    out: dict[int, dict[str, Any]] = {}
    for item, outcome in zip(items, created, strict=True):
        if isinstance(outcome, IdempotencyConflict):
            out[item.index] = _error(item.index, 409, "idempotency_conflict", str(outcome))
        elif outcome.created:
            job = JobRecord.from_hash(item.new.fields).job.model_dump(mode="json")
            out[item.index] = {"index": item.index, "status": 202, "job": job}
        else:
            earlier = await store.get(outcome.job_id, tenant=tenant)
            shown = earlier.job.model_dump(mode="json") if earlier else None
            out[item.index] = {"index": item.index, "status": 200, "job": shown}
    return out


@router.post("/bulk", response_model=BulkResponse, responses=ERRORS)
async def create_jobs(body: BulkRequest, tenant: TenantDep, services: ServicesDep) -> Response:
    """Accept up to 1,000 jobs; one outcome per item (202, 200 replay, 409, 422).

    A tenant past a budget gets 429 for the whole request, as ``POST /v1/jobs`` answers.
    """
    await budget.admit(services.redis, services.settings, tenant)
    results: dict[int, dict[str, Any]] = {}
    items: list[_Item] = []
    for index, raw in enumerate(body.jobs):
        try:
            items.append(await _prepare(services, tenant, index, raw))
        except ApiError as exc:
            results[index] = _error(index, exc.status, exc.type, exc.message, exc.details)
        except MistralQueueError as exc:
            results[index] = _error(index, 422, "validation_error", str(exc))
    if items:
        results |= await _outcomes(services, tenant, items)
    data = [results[index] for index in range(len(body.jobs))]
    return Response(orjson.dumps({"data": data}), media_type="application/json")
