"""Routes of ``/v1/batch/jobs``: create (files or inline requests), list, get, cancel, delete."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from mistral_queue.dev.emulator.batch_jobs import TERMINAL, BatchJob, CreateBatchJobRequest
from mistral_queue.dev.emulator.batch_runner import ENDPOINTS, OUTCOME_KEY, run_batch
from mistral_queue.dev.emulator.catalog import (
    is_classifier_model,
    is_embedding_model,
    serves_chat,
)
from mistral_queue.dev.emulator.errors import ApiError, invalid_model
from mistral_queue.dev.emulator.files import read_lines
from mistral_queue.dev.emulator.state import EmulatorState, StateDep
from mistral_queue.dev.emulator.wire import json_response

router = APIRouter(prefix="/v1/batch/jobs")

#: Query parameters of the list route; any other one filters on metadata (SDK explodes it).
_LIST_PARAMS = frozenset(
    {
        "page",
        "page_size",
        "model",
        "agent_id",
        "created_after",
        "created_by_me",
        "status",
        "order_by",
    }
)
_OUTCOMES = ("FAILED", "TIMEOUT_EXCEEDED")


@router.post("")
async def create_job(body: CreateBatchJobRequest, state: StateDep) -> Response:
    """Create a job (``QUEUED``) and start running it in the background."""
    job = _new_job(body, state)
    forced = (body.metadata or {}).get(OUTCOME_KEY) or state.faults.faults.batch_outcome
    job.task = asyncio.create_task(run_batch(job, state, forced if forced in _OUTCOMES else None))
    state.batches.add(job)
    return json_response(job.to_dict())


@router.get("")
async def list_jobs(
    request: Request,
    state: StateDep,
    page: int = 0,
    page_size: int = 100,
    model: str | None = None,
    agent_id: str | None = None,
    created_after: datetime | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    order_by: str = "-created",
) -> Response:
    """``{object: "list", data, total}``; unknown query parameters filter on metadata."""
    where: dict[str, Any] = {
        "model": model,
        "agent_id": agent_id,
        "status": status,
        "created_after": created_after.timestamp() if created_after else None,
        "metadata": {k: v for k, v in request.query_params.items() if k not in _LIST_PARAMS},
    }
    jobs = state.batches.query(where, newest_first=order_by != "created")
    data = [job.to_dict() for job in jobs[page * page_size : (page + 1) * page_size]]
    return json_response({"object": "list", "data": data, "total": len(jobs)})


@router.get("/{job_id}")
async def get_job(job_id: str, state: StateDep, inline: bool = False) -> Response:
    """The job; with ``inline=true`` its result lines so far are in ``outputs``."""
    job = state.batches.get(job_id)
    return json_response(job.to_dict(_outputs(job, state) if inline else None))


@router.post("/{job_id}/cancel")
async def cancel_job(job_id: str, state: StateDep) -> Response:
    """Ask a queued or running job to stop: ``CANCELLATION_REQUESTED`` then ``CANCELLED``."""
    job = state.batches.get(job_id)
    if job.status not in TERMINAL:
        job.status = "CANCELLATION_REQUESTED"
    return json_response(job.to_dict())


@router.delete("/{job_id}")
async def delete_job(job_id: str, state: StateDep) -> Response:
    """``{id, object: "batch", deleted: true}``."""
    state.batches.delete(job_id)
    return json_response({"id": job_id, "object": "batch", "deleted": True})


def _new_job(body: CreateBatchJobRequest, state: EmulatorState) -> BatchJob:
    if body.endpoint not in ENDPOINTS:
        raise ApiError(400, f"Endpoint {body.endpoint} is not emulated", param="endpoint")
    if bool(body.input_files) == bool(body.requests):
        raise ApiError(400, "Exactly one of input_files or requests must be given")
    _check_model(body, state)
    job = BatchJob(
        endpoint=body.endpoint,
        input_files=list(body.input_files or []),
        model=body.model,
        agent_id=body.agent_id,
        metadata=body.metadata,
        timeout_hours=body.timeout_hours,
    )
    for file_id in job.input_files:
        stored = state.files.get(file_id)
        job.sources.append(stored.path)
        job.total += stored.num_lines
    if body.requests:
        path = state.files.new_path()
        with path.open("wb") as sink:
            for item in body.requests:
                sink.write(orjson.dumps(item.model_dump()) + b"\n")
        job.sources.append(path)
        job.total = len(body.requests)
    return job


def _check_model(body: CreateBatchJobRequest, state: EmulatorState) -> None:
    if body.agent_id is not None:
        state.agents.get(body.agent_id)
        return
    if body.model is None:
        return
    # Other endpoints check the model on each line, as their own routes do.
    if body.endpoint == "/v1/chat/completions":
        fits = body.model in state.config.models and serves_chat(body.model)
    elif body.endpoint == "/v1/embeddings":
        fits = body.model in state.config.models and is_embedding_model(body.model)
    else:
        fits = body.model in state.config.models or is_classifier_model(body.model)
    if not fits:
        raise invalid_model(body.model)


def _outputs(job: BatchJob, state: EmulatorState) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for file_id in (job.output_file, job.error_file):
        if file_id is not None:
            lines += [orjson.loads(line) for line in read_lines(state.files.get(file_id).path)]
    return lines
