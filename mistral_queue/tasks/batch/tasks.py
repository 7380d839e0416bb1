"""The Celery tasks of batch jobs: run, poll, cancel (mode api) and request (mode direct).

``run`` starts a batch, or resumes one the sweep published again because its next step was
lost; it never waits for Mistral. Every task takes the job id first, so logs and Flower show
which job it belongs to, and no request body travels in a message.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from celery import Task, shared_task

from mistral_queue.broker.names import BATCH_CANCEL, BATCH_POLL, BATCH_REQUEST, RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.batchstate import BatchInputError, BatchState
from mistral_queue.jobs.model import JobStatus, JobType
from mistral_queue.tasks.base import JobRun, finish, run_job
from mistral_queue.tasks.batch import direct, outcome, upstream
from mistral_queue.tasks.batch.errors import Handled
from mistral_queue.tasks.runtime import runtime

log = logging.getLogger(__name__)


def _start(run: JobRun, plan: upstream.NextPoll) -> NoReturn:
    state = outcome.batch_state(run.rt, run.job_id)
    request = run.request
    total = state.total() or int(request.get("count", 0))
    outcome.start(run, {"mode": request["mode"], "total": total})
    try:
        if request["mode"] == "api":
            upstream.start(run, state, plan)
        direct.start(run, state)
    except BatchInputError as exc:
        _refuse(run, state, exc)


def _refuse(run: JobRun, state: BatchState, exc: BatchInputError) -> NoReturn:
    state.expire(run.rt.settings.job_retention_seconds)
    finish(run, changes.fail({"type": "invalid_input", "message": str(exc)}))
    raise Handled(f"input refused: {exc}")


@shared_task(bind=True, name=RUN_TASKS[JobType.BATCH], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Start (or resume) the batch job ``job_id``."""
    plan = upstream.NextPoll()
    run_job(self, job_id, lambda job: _start(job, plan))
    plan.publish(self.app, job_id)


@shared_task(bind=True, name=BATCH_POLL, max_retries=None)
def poll(self: Task[Any, Any], job_id: str, seq: int) -> None:
    """Poll the Mistral batch job of ``job_id`` (poll sequence ``seq``), then plan the next.

    Once our job has ended without success (cancelled, failed, past its deadline) while
    Mistral's still runs, Mistral's is cancelled.
    """
    rt = runtime()
    state = outcome.batch_state(rt, job_id)
    plan = upstream.NextPoll()
    run_job(self, job_id, lambda job: upstream.poll(job, state, seq, plan))
    if plan.delay is not None:
        plan.publish(self.app, job_id)
        return
    record = rt.store.get(job_id)
    if record is not None and record.is_final and record.status != JobStatus.SUCCEEDED:
        upstream.cancel_upstream(rt, state)


@shared_task(bind=True, name=BATCH_CANCEL, max_retries=None)
def cancel(self: Task[Any, Any], job_id: str) -> None:
    """After our job was cancelled: cancel its Mistral batch job and expire its batch keys."""
    rt = runtime()
    state = outcome.batch_state(rt, job_id)
    upstream.cancel_upstream(rt, state)
    state.expire(rt.settings.job_retention_seconds)


@shared_task(bind=True, name=BATCH_REQUEST, max_retries=None)
def request(self: Task[Any, Any], job_id: str, positions: list[int], attempts: int = 0) -> None:
    """Call upstream for the requests at ``positions`` of the direct-mode batch ``job_id``
    (``attempts`` already made for the first one)."""
    direct.call_some(self, job_id, positions, attempts)
