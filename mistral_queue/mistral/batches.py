"""Mistral's Batch API on the wire: job statuses, the create body, input and output JSONL lines.

Formats from mistral-api.md §1 (``POST /v1/batch/jobs``) and §2 "Batch job": a job moves
``QUEUED`` -> ``RUNNING`` -> ``SUCCESS`` | ``FAILED`` | ``TIMEOUT_EXCEEDED``, or through
``CANCELLATION_REQUESTED`` to ``CANCELLED``; output lines are
``{"custom_id", "response": {"status_code", "body"}, "error"}`` in any order, a line failed
when ``error`` is set or ``status_code >= 400``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import httpx
import orjson

from mistral_queue.mistral.errors import UpstreamError, error_from_response
from mistral_queue.mistral.parsing import message_from_body

#: Statuses of a job Mistral still works on (the SDK helper's "running" set).
ACTIVE = frozenset({"QUEUED", "RUNNING", "CANCELLATION_REQUESTED"})

#: Endpoints a batch of ours may target.
Endpoint = Literal[
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/agents/completions",
    "/v1/fim/completions",
    "/v1/moderations",
    "/v1/chat/moderations",
    "/v1/ocr",
    "/v1/classifications",
    "/v1/chat/classifications",
]
ENDPOINTS: tuple[str, ...] = get_args(Endpoint)

#: Mistral runs agent batches on the chat endpoint with the job's ``agent_id``.
_BATCH_ENDPOINT = {"/v1/agents/completions": "/v1/chat/completions"}

#: Metadata key naming our job on Mistral's batch job, to find it again after a crash.
JOB_METADATA_KEY = "mq_job_id"


def create_body(
    *,
    endpoint: str,
    input_file: str,
    job_id: str,
    model: str | None = None,
    agent_id: str | None = None,
    metadata: dict[str, str] | None = None,
    timeout_hours: int | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/batch/jobs`` for one uploaded input file.

    Args:
        endpoint: one of ENDPOINTS (agents completions become chat with ``agent_id``).
        input_file: the uploaded file's id.
        job_id: our job, recorded in the metadata under JOB_METADATA_KEY.
        model: the model every line uses (None with ``agent_id``).
        agent_id: the agent every line uses.
        metadata: the caller's own metadata (str -> str) for Mistral's job.
        timeout_hours: Mistral's limit (default 24 h), after which it ends ``TIMEOUT_EXCEEDED``.
    """
    body: dict[str, Any] = {
        "endpoint": _BATCH_ENDPOINT.get(endpoint, endpoint),
        "input_files": [input_file],
        "metadata": {**(metadata or {}), JOB_METADATA_KEY: job_id},
    }
    optional = {"model": model, "agent_id": agent_id, "timeout_hours": timeout_hours}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


@dataclass(frozen=True)
class BatchSnapshot:
    """What a poll of ``GET /v1/batch/jobs/{id}`` tells us."""

    id: str
    status: str
    total: int
    succeeded: int
    failed: int
    output_file: str | None
    error_file: str | None
    #: ``[{"message", "count"}]``: why lines or the job failed.
    errors: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchSnapshot:
        """Read a BatchJob object, tolerating missing counters (read as 0)."""
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "")),
            total=int(data.get("total_requests") or 0),
            succeeded=int(data.get("succeeded_requests") or 0),
            failed=int(data.get("failed_requests") or 0),
            output_file=data.get("output_file") or None,
            error_file=data.get("error_file") or None,
            errors=list(data.get("errors") or []),
        )

    @property
    def active(self) -> bool:
        """Whether Mistral still works on it (unknown statuses count as ended, like the SDK)."""
        return self.status in ACTIVE

    def counters(self) -> dict[str, int]:
        """``{"total", "succeeded", "failed"}``."""
        return {"total": self.total, "succeeded": self.succeeded, "failed": self.failed}


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The non-blank lines of a JSONL byte stream, whatever the chunk boundaries."""
    tail = b""
    for chunk in chunks:
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield from (line for line in lines if line.strip())
    if tail.strip():
        yield tail


def _error(status: int | None, body: Any, error: Any) -> dict[str, Any]:
    """Our error object for a failed line: typed by status like a direct call's error."""
    if status is not None and status >= 400:
        response = httpx.Response(status, content=orjson.dumps(body))
        response.headers["content-type"] = "application/json"
        found = error_from_response(response)
    else:
        found = UpstreamError(message_from_body(error) or "the request failed", body=body)
    result = found.to_dict()
    if error is not None:
        result["details"]["error"] = error
    return result


def result_line(raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Our result line for one of Mistral's output lines, and whether the request succeeded.

    Returns:
        ``({"custom_id", "response": {"status_code", "body"}}, True)`` for a success, else
        ``({"custom_id", "error": {"type", "message", "status_code", "details"}}, False)``.
    """
    custom_id = raw.get("custom_id")
    found = raw.get("response")
    response: dict[str, Any] = found if isinstance(found, dict) else {}
    status = response.get("status_code")
    status = int(status) if isinstance(status, int | float) else None
    error = raw.get("error")
    if error is None and status is not None and status < 400:
        return {"custom_id": custom_id, "response": response}, True
    return {"custom_id": custom_id, "error": _error(status, response.get("body"), error)}, False
