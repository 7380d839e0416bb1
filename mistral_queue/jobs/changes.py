"""The job state machine: each allowed change as one value the store applies atomically.

``queued → running → (retrying → running)* → succeeded | failed``; any unfinished job can be
``cancelled``; an agent job may wait in ``requires_action`` between runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from mistral_queue.jobs.model import CANCELLABLE, FINAL, JobStatus, dumps, now_iso

#: Statuses a worker may (re)start a job from; ``running`` covers a redelivery after a crash,
#: which the per-job lease keeps from running twice at once.
STARTABLE = frozenset({JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING})
UNFINISHED = frozenset(JobStatus) - FINAL


@dataclass(frozen=True)
class Change:
    """One atomic change of a job record, with the event it appends."""

    action: str
    allowed: frozenset[JobStatus] | None
    to: JobStatus | None = None
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    delete: tuple[str, ...] = ()
    attempts: int = 0
    #: New score in the sweep's watch set (unix seconds), "remove", or None to keep it.
    watch: float | Literal["remove"] | None = None
    #: When the callback is due next (unix seconds), "remove", or None to keep it.
    callback_due: float | Literal["remove"] | None = None
    finished: bool = False


def attempt(number: int, *, watch_until: float) -> Change:
    """Count upstream attempt ``number`` and (re)enter ``running``.

    Appends ``job.started`` only when the status changes (first start, or after a retry wait);
    fails when the job was cancelled meanwhile. ``watch_until`` is when the sweep checks on it.
    """
    return Change(
        "call Mistral",
        STARTABLE,
        JobStatus.RUNNING,
        "?job.started",
        data={"attempt": number},
        attempts=1,
        watch=watch_until,
    )


def retrying(*, attempt: int, delay: float, error: dict[str, Any], watch_until: float) -> Change:
    """An attempt failed and the next one waits ``delay`` seconds."""
    data = {"attempt": attempt, "delay": round(delay, 3), "error": error}
    return Change(
        "retry",
        frozenset({JobStatus.RUNNING}),
        JobStatus.RETRYING,
        "job.retrying",
        data=data,
        fields={"error": dumps(error)},
        watch=watch_until,
    )


def _final(
    action: str,
    allowed: frozenset[JobStatus],
    to: JobStatus,
    data: dict[str, Any],
    fields: dict[str, str],
) -> Change:
    event = f"job.{to.value}"
    now = time.time()
    return Change(
        action,
        allowed,
        to,
        event,
        data={"status": to.value, **data},
        fields={**fields, "finished_at": now_iso(), "callback_event": event},
        delete=("pending_tool_calls",),
        watch="remove",
        callback_due=now,
        finished=True,
    )


def succeed(result: Any) -> Change:
    """The job's work is done; ``result`` is stored and carried by the event."""
    return _final(
        "succeed",
        frozenset({JobStatus.RUNNING}),
        JobStatus.SUCCEEDED,
        {"result": result},
        {"result": dumps(result)},
    )


def fail(error: dict[str, Any]) -> Change:
    """The job cannot finish; ``error`` is ``{"type", "message", ...}``."""
    return _final("fail", UNFINISHED, JobStatus.FAILED, {"error": error}, {"error": dumps(error)})


def expire(deadline_seconds: float) -> Change:
    """Fail an unfinished job whose overall deadline (``job_deadline_seconds``) has passed."""
    error = {
        "type": "deadline_exceeded",
        "message": f"the job did not finish within its deadline of {deadline_seconds:g} s",
    }
    return fail(error)


def requeued(*, count: int, status: JobStatus, watch_until: float) -> Change:
    """The sweep published an unfinished job again (its ``count``-th time): its message was lost.

    Only applies while the job is still ``status``, so a job that moved on meanwhile is left
    alone; ``watch_until`` is when the sweep may look again (it backs off, so a long backlog
    does not fill the queue with copies).
    """
    return Change(
        "requeue",
        frozenset({status}),
        event="job.requeued",
        data={"status": status.value, "requeues": count},
        fields={"requeues": str(count)},
        watch=watch_until,
    )


def cancel(reason: str = "cancelled by the caller") -> Change:
    """Stop the job: a queued one never runs, a running one stops at its next step."""
    error = {"type": "cancelled", "message": reason}
    return _final("cancel", CANCELLABLE, JobStatus.CANCELLED, {}, {"error": dumps(error)})


def progress(data: dict[str, Any], event: str = "job.progress") -> Change:
    """Record progress of an unfinished job (batch counters, agent steps)."""
    return Change(
        "record progress",
        UNFINISHED,
        event=event,
        data=data,
        fields={"progress": dumps(data)} if event == "job.progress" else {},
    )


def note(event: str, data: dict[str, Any]) -> Change:
    """Append an event without touching the record (deltas, callback attempts)."""
    return Change("record an event", None, event=event, data=data)


def callback_attempt(
    *, fields: dict[str, str], event: str, data: dict[str, Any], due: float | Literal["remove"]
) -> Change:
    """Record one callback delivery attempt and when the next one is due (if any)."""
    return Change(
        "record a callback attempt", None, event=event, data=data, fields=fields, callback_due=due
    )


def redeliver() -> Change:
    """Send a finished job's final callback again (same webhook-id), as a new attempt."""
    return Change(
        "redeliver the callback",
        FINAL,
        event="callback.redelivery_requested",
        fields={"callback_status": "pending"},
        delete=("callback_next_attempt_at",),
        callback_due=time.time(),
    )


def delta(index: int, content: str, attempt: int) -> Change:
    """Streamed tokens of a running job; fails when the job was cancelled meanwhile."""
    return Change(
        "stream tokens",
        frozenset({JobStatus.RUNNING}),
        event="job.delta",
        data={"index": index, "content": content, "attempt": attempt},
    )
