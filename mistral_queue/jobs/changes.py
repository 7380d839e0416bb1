"""The job state machine: each allowed change as one value the store applies atomically.

``queued → running → (retrying → running)* → succeeded | failed``; any unfinished job can be
``cancelled``; an agent job may wait in ``requires_action`` between runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mistral_queue.jobs import fields as hash_fields
from mistral_queue.jobs.model import CANCELLABLE, FINAL, JobStatus, dumps, now_iso

#: Statuses a worker may (re)start a job from; ``running`` covers a redelivery after a crash,
#: which the per-job lease keeps from running twice at once.
STARTABLE = frozenset({JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING})
UNFINISHED = frozenset(JobStatus) - FINAL

#: Hash fields that exist only while an agent job waits for tool results.
AWAITING_FIELDS = (hash_fields.PENDING_TOOL_CALLS, hash_fields.RESPOND_BY)
#: Event of an agent job that needs tool results; its callback key adds the round number.
REQUIRES_ACTION_EVENT = "job.requires_action"
_CALLBACK_SCHEDULE = (hash_fields.CALLBACK_ATTEMPTS, hash_fields.CALLBACK_NEXT_ATTEMPT_AT)


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
        fields={hash_fields.ERROR: dumps(error)},
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
        fields={**fields, hash_fields.FINISHED_AT: now_iso(), hash_fields.CALLBACK_EVENT: event},
        # An agent job's requires_action callbacks may have counted attempts: the final
        # callback starts its own schedule.
        delete=(*AWAITING_FIELDS, *_CALLBACK_SCHEDULE),
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
        fields={hash_fields.REQUEUES: str(count)},
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
        fields={hash_fields.PROGRESS: dumps(data)} if event == "job.progress" else {},
    )


def note(event: str, data: dict[str, Any]) -> Change:
    """Append an event without touching the record (deltas, callback attempts)."""
    return Change("record an event", None, event=event, data=data)


def callback_attempt(
    *,
    fields: dict[str, str],
    event: str,
    data: dict[str, Any],
    due: float | Literal["remove"],
    allowed: frozenset[JobStatus] | None = None,
) -> Change:
    """Record one callback delivery attempt and when the next one is due (if any).

    ``allowed`` limits it to those statuses (a requires_action callback whose job moved on
    is not recorded).
    """
    return Change(
        "record a callback attempt",
        allowed,
        event=event,
        data=data,
        fields=fields,
        callback_due=due,
    )


def redeliver() -> Change:
    """Send a finished job's final callback again (same webhook-id), as a new attempt."""
    return Change(
        "redeliver the callback",
        FINAL,
        event="callback.redelivery_requested",
        fields={hash_fields.CALLBACK_STATUS: "pending"},
        delete=(hash_fields.CALLBACK_NEXT_ATTEMPT_AT,),
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


def throttled(*, reason: str, delay: float, watch_until: float) -> Change:
    """The job waits ``delay`` s for the rate limit or its tenant's cap; its status is kept."""
    return Change(
        "wait for capacity",
        STARTABLE,
        event="job.throttled",
        data={"reason": reason, "delay": round(delay, 3)},
        watch=watch_until,
    )


def agent_update(
    event: str, data: dict[str, Any], progress: dict[str, Any] | None = None
) -> Change:
    """An agent job's step, tool result or tool retry; ``progress`` replaces its state."""
    return Change(
        "record agent progress",
        STARTABLE,
        event=event,
        data=data,
        fields={hash_fields.PROGRESS: dumps(progress)} if progress is not None else {},
    )


def requires_action(
    *,
    calls: list[dict[str, Any]],
    progress: dict[str, Any],
    round_: int,
    respond_by: float,
    watch_until: float,
) -> Change:
    """An agent job waits for the caller's results of ``calls``, holding no worker.

    The callback key ``job.requires_action.<round_>`` gives each round its own webhook-id;
    the sweep fails the job when ``respond_by`` (unix seconds) passes without results.
    """
    when = datetime.fromtimestamp(respond_by, UTC).isoformat(timespec="milliseconds")
    data = {"round": round_, "pending_tool_calls": calls, "respond_by": when.replace("+00:00", "Z")}
    fields = {
        hash_fields.PENDING_TOOL_CALLS: dumps(calls),
        hash_fields.PROGRESS: dumps(progress),
        hash_fields.RESPOND_BY: repr(respond_by),
        hash_fields.CALLBACK_EVENT: f"{REQUIRES_ACTION_EVENT}.{round_}",
    }
    return Change(
        "wait for tool results",
        STARTABLE,
        JobStatus.REQUIRES_ACTION,
        REQUIRES_ACTION_EVENT,
        data=data,
        fields=fields,
        watch=watch_until,
        callback_due=time.time(),
    )


def resume(*, progress: dict[str, Any], tool_call_ids: list[str], watch_until: float) -> Change:
    """The caller's tool results arrived: queue the agent job again with them in ``progress``.

    A requires_action callback still being retried is dropped: the caller has acted.
    """
    return Change(
        "resume with tool results",
        frozenset({JobStatus.REQUIRES_ACTION}),
        JobStatus.QUEUED,
        "job.resumed",
        data={"tool_call_ids": tool_call_ids},
        fields={hash_fields.PROGRESS: dumps(progress)},
        delete=(*AWAITING_FIELDS, hash_fields.CALLBACK_EVENT, *_CALLBACK_SCHEDULE),
        watch=watch_until,
        callback_due="remove",
    )


def action_timeout(seconds: float) -> Change:
    """Fail an agent job that waited ``seconds`` for tool results without getting them."""
    error = {
        "type": "requires_action_timeout",
        "message": f"no tool results arrived within {seconds:g} s of job.requires_action",
    }
    return _final(
        "time out waiting for tool results",
        frozenset({JobStatus.REQUIRES_ACTION}),
        JobStatus.FAILED,
        {"error": error},
        {"error": dumps(error)},
    )
