"""Delayed jobs: when a job with ``run_at`` or ``delay_seconds`` is due, and its promotion.

A delayed job is stored ``scheduled`` with its due time in the ``jobs:due`` sorted set
(``keys.JOBS_DUE``); it is not with the broker, so no message has to outlive a visibility
timeout (the caveat of Celery's ETA tasks). The scheduler (``worker/scheduler.py``) promotes it
to ``queued`` and publishes it once due (docs/scheduling.md).
"""

from __future__ import annotations

from datetime import datetime

from mistral_queue.jobs.changes import Change
from mistral_queue.jobs.model import JobStatus


class StartTimeError(ValueError):
    """Raised when a job's start time is further away than allowed; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def due_at(
    run_at: datetime | None, delay_seconds: float | None, *, now: float, max_delay: float
) -> float | None:
    """The unix time a delayed job is due at, or None when it runs at once.

    A ``run_at`` in the past (or ``delay_seconds`` 0) runs at once, as the caller asked for
    "no later than".

    Raises:
        StartTimeError: the start is more than ``max_delay`` seconds away.
    """
    if run_at is not None:
        due, field = run_at.timestamp(), "run_at"
    elif delay_seconds is not None:
        due, field = now + delay_seconds, "delay_seconds"
    else:
        return None
    if due - now > max_delay:
        raise StartTimeError(field, f"{field}: at most {max_delay:g} s from now")
    return due if due > now else None


def promote(*, due: float, watch_until: float) -> Change:
    """A scheduled job is due: queue it (the caller publishes it next).

    ``watch_until`` is when the sweep publishes it again should that publish be lost.
    """
    return Change(
        "promote a due job",
        frozenset({JobStatus.SCHEDULED}),
        JobStatus.QUEUED,
        "job.queued",
        data={"status": JobStatus.QUEUED.value, "due": round(due, 3)},
        watch=watch_until,
    )
