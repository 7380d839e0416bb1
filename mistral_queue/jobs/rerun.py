"""Running a failed or cancelled job again (``POST /v1/jobs/{id}/retry`` and replays).

The same job id runs again with a fresh attempt budget: its record goes back to ``queued``
without the last run's outcome, while its event log keeps every earlier event (the retry
itself is ``job.retried``). ``retries`` counts the runs after the first; the final callback's
``webhook-id`` includes it (``callbacks.event_key``), so a receiver that de-duplicates sees the
new outcome as a new message.
"""

from __future__ import annotations

from mistral_queue.jobs import fields as hash_fields
from mistral_queue.jobs.changes import Change
from mistral_queue.jobs.model import CallbackStatus, JobRecord, JobStatus, JobType

#: Statuses a job may be retried from.
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})

#: Kinds that can run again: a batch job's stored requests and results are not reset.
RERUNNABLE = frozenset({JobType.CHAT, JobType.AGENT})

#: Fields of the last run that the next one must not see.
LAST_RUN = (
    hash_fields.RESULT,
    hash_fields.ERROR,
    hash_fields.PROGRESS,
    hash_fields.FINISHED_AT,
    hash_fields.FINISHED_TS,
    hash_fields.STARTED_AT,
    hash_fields.STARTED_TS,
    hash_fields.REQUEUES,
    hash_fields.PENDING_TOOL_CALLS,
    hash_fields.RESPOND_BY,
    hash_fields.CALLBACK_EVENT,
    hash_fields.CALLBACK_ATTEMPTS,
    hash_fields.CALLBACK_LAST_STATUS_CODE,
    hash_fields.CALLBACK_LAST_ERROR,
    hash_fields.CALLBACK_NEXT_ATTEMPT_AT,
)


def run_task_id(job_id: str, retries: int) -> str:
    """The Celery task id of a job's run: a retried run needs its own, since cancelling the
    job revoked the first one (workers drop every message of a revoked task id)."""
    return job_id if retries == 0 else f"{job_id}-run{retries + 1}"


def rerun(record: JobRecord, *, deadline: float, watch_until: float) -> Change:
    """Queue a failed or cancelled job again (the caller publishes it and persists its keys).

    Args:
        record: the job as read just before; the change fails if its status moved on.
        deadline: the new overall deadline (unix seconds).
        watch_until: when the sweep publishes it again should the publish be lost.
    """
    number = record.job.retries + 1
    fields = {
        hash_fields.ATTEMPTS: "0",
        hash_fields.RETRIES: str(number),
        hash_fields.DEADLINE: repr(deadline),
    }
    if record.job.callback.url:
        fields[hash_fields.CALLBACK_STATUS] = CallbackStatus.PENDING.value
    return Change(
        "retry the job",
        frozenset({record.status}) & RETRYABLE,
        JobStatus.QUEUED,
        "job.retried",
        data={"retries": number, "previous": record.status.value},
        fields=fields,
        delete=LAST_RUN,
        watch=watch_until,
        callback_due="remove",
    )
