"""Batch jobs: the create body, the job record and the store (SDK 3.7 ``BatchJob`` shape).

Status moves ``QUEUED`` -> ``RUNNING`` -> ``SUCCESS`` | ``FAILED`` | ``TIMEOUT_EXCEEDED``, or
``CANCELLATION_REQUESTED`` -> ``CANCELLED``; ``batch_runner.py`` drives it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.dev.emulator.errors import not_found
from mistral_queue.dev.emulator.ids import new_id, unix_now

#: Statuses after which a job never changes again.
TERMINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})


class BatchRequest(BaseModel):
    """One inline request: ``{custom_id, body}``."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str | None = None
    body: dict[str, Any]


class CreateBatchJobRequest(BaseModel):
    """Body of ``POST /v1/batch/jobs``: ``input_files`` or inline ``requests``."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    input_files: list[str] | None = None
    requests: list[BatchRequest] | None = None
    model: str | None = None
    agent_id: str | None = None
    metadata: dict[str, str] | None = None
    timeout_hours: int = Field(default=24, ge=1)


@dataclass
class BatchJob:
    """One job and its counters; ``completed == succeeded + failed`` at every step."""

    endpoint: str
    input_files: list[str]
    model: str | None
    agent_id: str | None
    metadata: dict[str, str] | None
    timeout_hours: int
    id: str = field(default_factory=lambda: new_id(""))
    created_at: int = field(default_factory=unix_now)
    status: str = "QUEUED"
    started_at: int | None = None
    completed_at: int | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    failures: Counter[str] = field(default_factory=Counter)
    #: Files to read lines from: the input files, or a private copy of inline requests.
    sources: list[Path] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def finish(self, status: str) -> None:
        """Enter the terminal ``status`` now."""
        self.status = status
        self.completed_at = unix_now()

    def to_dict(self, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The ``batch`` object; ``outputs`` are the result lines of an ``inline`` read."""
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "agent_id": self.agent_id,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": [{"message": m, "count": n} for m, n in self.failures.items()],
            "outputs": outputs,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": self.total,
            "completed_requests": self.succeeded + self.failed,
            "succeeded_requests": self.succeeded,
            "failed_requests": self.failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


class BatchStore:
    """All batch jobs of one emulator."""

    def __init__(self) -> None:
        self._jobs: dict[str, BatchJob] = {}

    def clear(self) -> None:
        """Stop every running job and forget all of them."""
        for job in self._jobs.values():
            if job.task is not None:
                job.task.cancel()
        self._jobs.clear()

    def add(self, job: BatchJob) -> None:
        """Keep ``job`` (its runner task is attached by the caller)."""
        self._jobs[job.id] = job

    def get(self, job_id: str) -> BatchJob:
        """The job ``job_id``.

        Raises:
            ApiError: Mistral's 404 body for an unknown id.
        """
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found("Batch job", job_id)
        return job

    def delete(self, job_id: str) -> None:
        """Forget a job, stopping it first.

        Raises:
            ApiError: 404 for an unknown id.
        """
        job = self.get(job_id)
        if job.task is not None:
            job.task.cancel()
        del self._jobs[job_id]

    def query(self, where: dict[str, Any], newest_first: bool = True) -> list[BatchJob]:
        """Jobs matching ``where`` (``model``, ``agent_id``, ``status`` list, ``metadata``
        dict, ``created_after`` Unix seconds)."""
        jobs = [job for job in self._jobs.values() if _matches(job, where)]
        return list(reversed(jobs)) if newest_first else jobs


def _matches(job: BatchJob, where: dict[str, Any]) -> bool:
    metadata = job.metadata or {}
    checks = (
        where.get("model") in (None, job.model),
        where.get("agent_id") in (None, job.agent_id),
        not where.get("status") or job.status in where["status"],
        all(metadata.get(k) == v for k, v in (where.get("metadata") or {}).items()),
        where.get("created_after") is None or job.created_at >= where["created_after"],
    )
    return all(checks)
