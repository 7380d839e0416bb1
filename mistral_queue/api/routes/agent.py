"""``POST /v1/jobs/{id}/tool-results``: the caller answers an agent job's pending tool calls."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import redis
from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.routes.jobs import ERRORS
from mistral_queue.api.schemas.agent import ToolResultIn, match_results
from mistral_queue.jobs import changes
from mistral_queue.jobs.agent import AgentProgress, ToolCall
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.model import Job, JobStatus, JobType

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=OrjsonRoute)

#: Most results one post may carry (a model makes a handful of calls per turn).
MAX_RESULTS = 128

Results = Annotated[
    list[ToolResultIn],
    Body(
        min_length=1,
        max_length=MAX_RESULTS,
        description="One `{tool_call_id, result}` per pending tool call of the job.",
    ),
]


@router.post("/{job_id}/tool-results", status_code=202, response_model=Job, responses=ERRORS)
async def submit_tool_results(
    job_id: str, results: Results, tenant: TenantDep, services: ServicesDep
) -> JSONResponse:
    """Answer every pending tool call of a job in ``requires_action``; it is queued again.

    The results are appended to the same conversation (as ``function.result`` entries, or
    ``tool`` messages for an agents completion) by the next step. 409 when the job does not
    wait for results; 422 for an unknown, repeated or missing ``tool_call_id``.
    """
    record = await services.store.get(job_id, tenant=tenant)
    if record is None:
        raise JobNotFound(job_id)
    job = record.job
    if job.status != JobStatus.REQUIRES_ACTION or job.type != JobType.AGENT:
        message = f"job {job_id} is {job.status.value}, not waiting for tool results"
        raise ApiError(409, "conflict", message, {"status": job.status.value})
    pending = [ToolCall.model_validate(c) for c in job.pending_tool_calls or []]
    answers = match_results(pending, results)
    progress = AgentProgress.model_validate(job.progress).add_results(answers)
    change = changes.resume(
        progress=progress.dump(),
        tool_call_ids=[a.tool_call_id for a in answers],
        watch_until=time.time() + services.settings.requeue_after_seconds,
    )
    # Only one post wins: the change applies only while the job still waits (else 409).
    await services.store.apply(job_id, tenant, change)
    resumed = await services.store.get(job_id, tenant=tenant)
    if resumed is None:
        raise JobNotFound(job_id)
    try:
        await services.publisher.run_job(JobType.AGENT, job_id)
    except (OperationalError, redis.RedisError) as exc:
        # The results are stored and the job is queued: the sweep publishes it again.
        log.warning("job %s resumed but not published (%s); the sweep will", job_id, exc)
    return JSONResponse(resumed.job.model_dump(mode="json"), status_code=202)
