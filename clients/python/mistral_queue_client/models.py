"""Typed views of what the API returns; unknown fields are kept (``model_extra``).

Statuses and types are plain strings so that a newer server's values (``scheduled``,
``waiting``, …) never break an older client; the constants below name the ones known today.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: Statuses after which a job never changes.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

#: Event types that end a job's event stream.
FINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.cancelled"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Callback(_Model):
    """Delivery state of a job's callback: ``status`` is pending, delivered or failed."""

    url: str | None = None
    status: str | None = None
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None


class ToolCall(_Model):
    """A function call an agent job waits on (``pending_tool_calls``)."""

    tool_call_id: str
    name: str
    arguments: Any = None


class Job(_Model):
    """A job as ``GET /v1/jobs/{id}`` returns it (and a callback carries it in ``data``).

    Times are RFC 3339 UTC strings. ``result`` is Mistral's response for a chat job; ``error``
    is ``{"type", "message", …}`` for a failed one.
    """

    id: str
    type: str
    status: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    request: dict[str, Any] = {}
    result: Any = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    callback: Callback = Callback()
    pending_tool_calls: list[ToolCall] | None = None
    trace_id: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether the job succeeded, failed or was cancelled."""
        return self.status in FINAL_STATUSES


class Event(_Model):
    """One entry of a job's event log: ``id`` is its position (the SSE ``Last-Event-ID``)."""

    id: str
    type: str
    job_id: str | None = None
    time: str | None = None
    data: dict[str, Any] = {}

    @property
    def is_final(self) -> bool:
        return self.type in FINAL_EVENTS


class BatchResult(_Model):
    """One line of ``GET /v1/jobs/{id}/results``: ``response`` or ``error`` per ``custom_id``."""

    custom_id: str
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class Endpoint(_Model):
    """A registered webhook endpoint (``ep_…``) of the tenant."""

    id: str
    url: str
    event_types: list[str] | None = None
    description: str | None = None
    disabled: bool = False
    rate_limit: float | None = None


class EndpointAttempt(_Model):
    """One delivery attempt to an endpoint."""

    id: str
    job_id: str | None = None
    event_type: str | None = None
    webhook_id: str | None = None
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    attempted_at: str | None = None


class Usage(_Model):
    """``GET /v1/usage``: ``tokens`` (prompt, completion, total), ``cost`` and ``jobs``."""

    tokens: dict[str, int] = {}
    cost: dict[str, Any] = {}
    jobs: int = 0
