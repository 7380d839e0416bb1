"""What the sync and async clients share: defaults, retry decisions, request bodies, paths.

Nothing here does I/O, so both clients make exactly the same requests and the same retry
decisions; only how they send and sleep differs.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from mistral_queue_client.errors import APIError, BudgetExceededError

VERSION = "0.1.0"

#: Statuses retried: over a quota (429) or Redis/broker briefly unreachable (503).
RETRY_STATUSES = frozenset({429, 503})

#: Seconds of the first backoff step and the most one step (or a Retry-After) may wait.
BACKOFF_BASE = 0.5
MAX_RETRY_WAIT = 60.0

#: Read timeout (s) of an event stream: the server sends a keep-alive every 15 s.
STREAM_READ_TIMEOUT = 45.0


@dataclass(frozen=True)
class Options:
    """How a client talks to the API.

    Attributes:
        base_url: the API root, e.g. ``http://127.0.0.1:8000`` (no ``/v1``).
        api_key: the intake API key, sent as ``Authorization: Bearer``.
        timeout: seconds for connect, read and write of one request.
        max_retries: retries after the first try (0 = never retry).
    """

    base_url: str
    api_key: str
    timeout: float = 30.0
    max_retries: int = 3

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": f"mistral-queue-client/{VERSION}",
            "Accept": "application/json",
        }

    def stream_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT))


def trace_headers() -> dict[str, str]:
    """The caller's OpenTelemetry context as W3C ``traceparent`` headers, when the
    ``opentelemetry-api`` package is installed (it is optional); else nothing.

    The API then records the caller's trace on the job and carries it to Mistral and the
    callback.
    """
    try:
        from opentelemetry import propagate
    except ImportError:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def backoff(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1-based): full jitter, exponential, capped."""
    return random.uniform(0, min(MAX_RETRY_WAIT, BACKOFF_BASE * 2 ** (attempt - 1)))


def retry_delay(error: APIError, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before retrying after ``error`` on try ``attempt``, or None to raise.

    429 and 503 are retried, honouring ``Retry-After`` when it is at most ``MAX_RETRY_WAIT``;
    a spent budget (429 ``budget_exceeded``) and longer waits are raised at once.
    """
    if attempt > max_retries or error.status_code not in RETRY_STATUSES:
        return None
    if isinstance(error, BudgetExceededError):
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= MAX_RETRY_WAIT else None
    return backoff(attempt)


def job_path(job_id: str, *rest: str) -> str:
    """``/v1/jobs/{id}/…`` with the id percent-encoded, so no id can reach another route."""
    return "/".join(["/v1/jobs", quote(job_id, safe=""), *rest])


def endpoint_path(endpoint_id: str, *rest: str) -> str:
    """``/v1/endpoints/{id}/…`` with the id percent-encoded."""
    return "/".join(["/v1/endpoints", quote(endpoint_id, safe=""), *rest])


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` for one ``jobs.create`` call (kept across its retries)."""
    return f"mqc_{uuid.uuid4().hex}"


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def job_body(
    type: str,
    request: Mapping[str, Any],
    *,
    callback_url: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    priority: int | None = None,
    run_at: datetime | str | None = None,
    depends_on: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body; fields left None are not sent (the server's defaults hold)."""
    body: dict[str, Any] = {"type": type, "request": dict(request)}
    optional: dict[str, Any] = {
        "callback_url": callback_url,
        "metadata": dict(metadata) if metadata is not None else None,
        "priority": priority,
        "run_at": _iso(run_at) if run_at is not None else None,
        "depends_on": list(depends_on) if depends_on is not None else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def list_params(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters from ``jobs.list`` filters: datetimes as RFC 3339, None dropped."""
    params: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            value = list(value)
        params[name] = value
    return params


def tool_results_body(
    results: Mapping[str, str] | Sequence[Mapping[str, str]],
) -> list[dict[str, str]]:
    """``[{tool_call_id, result}]`` from that list or from ``{tool_call_id: result}``."""
    if isinstance(results, Mapping):
        return [{"tool_call_id": k, "result": v} for k, v in results.items()]
    return [dict(r) for r in results]


def chat_request(model: str, messages: Sequence[Mapping[str, Any]], **kw: Any) -> dict[str, Any]:
    """A Mistral chat completion body: ``model``, ``messages`` and any other Mistral field."""
    return {"model": model, "messages": [dict(m) for m in messages], **kw}


def idempotent(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request may be sent again after a dropped connection (the server may have it)."""
    return method == "GET" or "Idempotency-Key" in headers
