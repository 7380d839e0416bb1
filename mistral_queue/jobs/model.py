"""The job record: its states, its Redis fields and its public shape (DESIGN.md § Intake API)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel

from mistral_queue.jobs import fields as hash_fields
from mistral_queue.jobs.pricing import cost_view


class JobStatus(StrEnum):
    """Where a job is in its life."""

    #: Accepted, held in Redis until its ``run_at`` (docs/scheduling.md); not with the broker.
    SCHEDULED = "scheduled"
    #: Accepted, held until every job of its ``depends_on`` succeeded; not with the broker.
    WAITING = "waiting"
    #: Accepted and with the broker, not started yet.
    QUEUED = "queued"
    #: A worker holds the job and talks to Mistral.
    RUNNING = "running"
    #: An upstream attempt failed and the next one is scheduled.
    RETRYING = "retrying"
    #: An agent job waits for the caller's tool results; no worker slot is held.
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobType(StrEnum):
    """The kind of Mistral work a job does."""

    CHAT = "chat"
    AGENT = "agent"
    BATCH = "batch"
    EMBEDDINGS = "embeddings"
    OCR = "ocr"
    MODERATION = "moderation"
    CLASSIFICATION = "classification"
    FIM = "fim"


class CallbackStatus(StrEnum):
    """Delivery state of a job's final callback."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


#: States a job never leaves.
FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: States a cancel request can stop (a running job stops at its next step).
CANCELLABLE = frozenset(
    {
        JobStatus.SCHEDULED,
        JobStatus.WAITING,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.RETRYING,
        JobStatus.REQUIRES_ACTION,
    }
)

#: Hash fields stored as JSON text.
JSON_FIELDS = (
    "request",
    "result",
    "error",
    "progress",
    "metadata",
    "pending_tool_calls",
    "depends_on",
)


def new_job_id() -> str:
    """A fresh opaque job id: ``job_`` + a millisecond time prefix + 80 random bits, base32hex."""
    stamp = int(time.time() * 1000).to_bytes(6, "big")
    raw = int.from_bytes(stamp + secrets.token_bytes(10), "big")
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    chars = []
    for _ in range(26):
        raw, rem = divmod(raw, 32)
        chars.append(alphabet[rem])
    return "job_" + "".join(reversed(chars))


def now_iso() -> str:
    """The current time, RFC 3339 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(timestamp: float) -> str:
    """A unix time (seconds) as RFC 3339 UTC with milliseconds."""
    when = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """JSON text for a hash field or an event."""
    return orjson.dumps(value).decode()


class Callback(BaseModel):
    """The public view of a job's callback delivery."""

    url: str | None = None
    status: CallbackStatus | None = None
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None


class JobCost(BaseModel):
    """What a finished job's upstream calls cost (``MQ_MODEL_PRICES``; unpriced models: 0)."""

    currency: str = "USD"
    input: float
    output: float
    total: float


class Job(BaseModel):
    """A job as the API returns it and as callbacks carry it in ``data``."""

    id: str
    type: JobType
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    request: dict[str, Any]
    result: Any = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    callback: Callback
    pending_tool_calls: list[dict[str, Any]] | None = None
    #: The OpenTelemetry trace of the job's POST (32 hex digits), when tracing is on.
    trace_id: str | None = None
    #: 0..9, 9 most urgent; orders the tenant's waiting jobs (docs/fairness.md).
    priority: int = 5
    cost: JobCost | None = None
    #: When a delayed job is due (RFC 3339 UTC); None for a job queued at once.
    run_at: str | None = None
    #: Jobs that must succeed before this one runs.
    depends_on: list[str] | None = None
    #: Times ``POST /v1/jobs/{id}/retry`` (or a replay) ran the job again.
    retries: int = 0


class JobRecord(BaseModel):
    """A job as stored in its Redis hash, including the fields the public view hides."""

    job: Job
    tenant: str
    deadline: float | None = None
    callback_event: str | None = None
    #: W3C ``traceparent`` of the job's POST: the parent of its runs' and callbacks' spans.
    traceparent: str | None = None

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> JobStatus:
        return self.job.status

    @property
    def is_final(self) -> bool:
        return self.job.status in FINAL

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> JobRecord:
        """Decode a job hash (as returned by HGETALL with ``decode_responses=True``)."""
        data: dict[str, Any] = {k: v for k, v in raw.items() if v != ""}
        for name in JSON_FIELDS:
            if name in data:
                data[name] = orjson.loads(data[name])
        callback = Callback(
            url=data.get(hash_fields.CALLBACK_URL),
            status=data.get(hash_fields.CALLBACK_STATUS),
            attempts=int(data.get(hash_fields.CALLBACK_ATTEMPTS, 0)),
            last_status_code=data.get(hash_fields.CALLBACK_LAST_STATUS_CODE),
            last_error=data.get(hash_fields.CALLBACK_LAST_ERROR),
            next_attempt_at=data.get(hash_fields.CALLBACK_NEXT_ATTEMPT_AT),
        )
        job = Job.model_validate(
            {
                **data,
                "callback": callback,
                "metadata": data.get(hash_fields.METADATA) or {},
                "cost": _cost(data),
            }
        )
        deadline = float(data[hash_fields.DEADLINE]) if hash_fields.DEADLINE in data else None
        return cls(
            job=job,
            tenant=data[hash_fields.TENANT],
            deadline=deadline,
            callback_event=data.get(hash_fields.CALLBACK_EVENT),
            traceparent=data.get(hash_fields.TRACEPARENT),
        )


def _cost(data: dict[str, Any]) -> dict[str, Any] | None:
    """The ``cost`` of a job whose usage was booked (jobs/usage.py), else None."""
    if hash_fields.COST_INPUT_NANO not in data:
        return None
    return cost_view(
        int(data[hash_fields.COST_INPUT_NANO]), int(data.get(hash_fields.COST_OUTPUT_NANO, 0))
    )


def initial_fields(
    *,
    job_id: str,
    tenant: str,
    job_type: JobType,
    request: dict[str, Any],
    metadata: dict[str, Any],
    callback_url: str | None,
    deadline: float,
    priority: int = 5,
    run_at: float | None = None,
    depends_on: list[str] | None = None,
) -> dict[str, str]:
    """The hash fields of a newly accepted job: ``scheduled`` with ``run_at`` (unix s),
    ``waiting`` with ``depends_on``, else ``queued``."""
    status = JobStatus.QUEUED if run_at is None else JobStatus.SCHEDULED
    if depends_on:
        status = JobStatus.WAITING
    fields = {
        hash_fields.ID: job_id,
        hash_fields.TENANT: tenant,
        hash_fields.TYPE: job_type.value,
        hash_fields.STATUS: status.value,
        hash_fields.CREATED_AT: now_iso(),
        hash_fields.CREATED_TS: repr(time.time()),
        hash_fields.ATTEMPTS: "0",
        hash_fields.REQUEST: dumps(request),
        hash_fields.METADATA: dumps(metadata),
        hash_fields.DEADLINE: repr(deadline),
        hash_fields.PRIORITY: str(priority),
    }
    if depends_on:
        fields[hash_fields.DEPENDS_ON] = dumps(depends_on)
    if run_at is not None:
        fields[hash_fields.RUN_AT] = iso(run_at)
        fields[hash_fields.RUN_TS] = repr(run_at)
    if callback_url:
        fields[hash_fields.CALLBACK_URL] = callback_url
        fields[hash_fields.CALLBACK_STATUS] = CallbackStatus.PENDING.value
    return fields
