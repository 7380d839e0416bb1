"""What both batch modes share: their bookkeeping, the job's start, watch, progress and end.

A batch job is ``running`` from its first step to its last, whatever runs in between (polls,
fanned-out requests); its sweep watch is always pushed past the next scheduled step, so the
sweep only takes it for lost when that step did not happen.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task

from mistral_queue.jobs import changes, fields
from mistral_queue.jobs.batchstate import BatchState
from mistral_queue.jobs.changes import STARTABLE, UNFINISHED, Change
from mistral_queue.jobs.model import JobStatus
from mistral_queue.tasks.base import JobRun, JobStopped, finish
from mistral_queue.tasks.runtime import Runtime

#: Where a batch's results are served (relative to the API's root).
RESULTS_PATH = "/v1/jobs/{job_id}/results"


def results_url(job_id: str) -> str:
    """The results route of ``job_id``."""
    return RESULTS_PATH.format(job_id=job_id)


def batch_state(rt: Runtime, job_id: str) -> BatchState:
    """The job's batch keys; new ones live for the job's deadline plus its retention."""
    settings = rt.settings
    ttl = settings.job_deadline_seconds + settings.job_retention_seconds
    return BatchState(rt.redis, job_id, ttl)


def margin(rt: Runtime) -> float:
    """Seconds past a scheduled step after which the sweep takes the job's message for lost."""
    return rt.settings.requeue_after_seconds


def start(run: JobRun, data: dict[str, Any]) -> None:
    """Enter ``running`` (``job.started`` with ``data`` the first time only).

    Raises:
        JobStopped: the job was cancelled or finished meanwhile.
    """
    watch = time.time() + margin(run.rt)
    run.apply(
        Change("start the batch", STARTABLE, JobStatus.RUNNING, "?job.started", data, watch=watch)
    )


def watch(run: JobRun, until: float) -> None:
    """Have the sweep leave the job alone until ``until`` (unix seconds).

    Raises:
        JobStopped: the job was cancelled or finished meanwhile.
    """
    run.apply(Change("schedule the batch's next step", UNFINISHED, watch=until))


def report(run: JobRun, progress: dict[str, Any]) -> None:
    """Store ``progress`` and emit ``job.progress`` when it differs from the last one stored.

    Raises:
        JobStopped: the job was cancelled or finished meanwhile.
    """
    if progress != run.record.job.progress:
        run.apply(changes.progress(progress))
        run.record.job.progress = progress


def summary(run: JobRun, counters: dict[str, int], **extra: Any) -> dict[str, Any]:
    """The job's ``result``: counters, mode, the results link and ``extra`` (Mistral's ids)."""
    return {
        **counters,
        "mode": run.request.get("mode"),
        "results_url": results_url(run.job_id),
        **extra,
    }


def progress_of(run: JobRun, counters: dict[str, int], **extra: Any) -> dict[str, Any]:
    """The job's ``progress``: ``{"total", "succeeded", "failed", "mode", **extra}``."""
    return {**counters, "mode": run.request.get("mode"), **extra}


def succeed(task: Task[Any, Any], rt: Runtime, state: BatchState) -> None:
    """Finish a direct-mode batch whose every request has a result (the first caller wins).

    Writes the final counters as progress, cuts the keys to the job's retention, records
    ``succeeded`` with the summary and sends the callback; a job already final is left alone.
    """
    record = rt.store.get(state.job_id)
    if record is None or record.is_final:
        return
    run = JobRun(task, rt, record)
    info = state.get()
    counters = {
        "total": int(info.get(fields.BATCH_TOTAL, 0)),
        "succeeded": int(info.get(fields.BATCH_SUCCEEDED, 0)),
        "failed": int(info.get(fields.BATCH_FAILED, 0)),
    }
    try:
        report(run, progress_of(run, counters))
    except JobStopped:
        return
    state.expire(rt.settings.job_retention_seconds)
    finish(run, changes.succeed(summary(run, counters)))
