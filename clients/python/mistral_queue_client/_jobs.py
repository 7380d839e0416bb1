"""``client.jobs``: create, read, list, wait for, follow, cancel, resume and retry jobs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from httpx_sse import EventSource

from mistral_queue_client import _core, errors
from mistral_queue_client._http import SyncTransport
from mistral_queue_client.models import BatchResult, Event, Job

#: Seconds between polls in ``wait``: from the first value, growing to the last.
POLL_FIRST, POLL_MAX = 0.2, 2.0


class Jobs:
    """The job routes of the intake API (``/v1/jobs``), synchronously."""

    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport

    def create(
        self,
        type: str,
        request: Mapping[str, Any],
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        priority: int | None = None,
        run_at: datetime | str | None = None,
        depends_on: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job (``POST /v1/jobs``): ``request`` is Mistral's body for its ``type``.

        One ``Idempotency-Key`` (``idempotency_key`` or a fresh one) is sent on every try of
        this call, so a retry after a lost answer returns the first job instead of a second.

        Raises:
            ValidationError: 422 naming the bad field. ConflictError: the key was used for
            another body. BudgetExceededError, RateLimitError, APIConnectionError.
        """
        body = _core.job_body(
            type,
            request,
            callback_url=callback_url,
            metadata=metadata,
            priority=priority,
            run_at=run_at,
            depends_on=depends_on,
        )
        key = idempotency_key or _core.new_idempotency_key()
        data = self._t.request("POST", "/v1/jobs", json=body, headers={"Idempotency-Key": key})
        return Job.model_validate(data)

    def get(self, job_id: str) -> Job:
        """The job now (``GET /v1/jobs/{id}``). Raises NotFoundError for another tenant's."""
        return Job.model_validate(self._t.request("GET", _core.job_path(job_id)))

    def list(self, **filters: Any) -> Iterator[Job]:
        """Every job matching ``filters``, newest first, fetching page after page.

        Args:
            **filters: ``status`` and ``type`` (a value or a list), ``created_after``,
                ``created_before`` (datetime or RFC 3339), ``limit`` (page size, ≤ 100).
        """
        params = _core.list_params(filters)
        while True:
            page = self._t.request("GET", "/v1/jobs", params=params)
            for item in page["data"]:
                yield Job.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def wait(self, job_id: str, timeout: float = 300.0) -> Job:
        """Poll the job until it is final and return it.

        Raises:
            WaitTimeoutError: not final after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        interval = POLL_FIRST
        while True:
            job = self.get(job_id)
            if job.is_final:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.WaitTimeoutError(f"{job_id} is {job.status} after {timeout} s")
            time.sleep(min(interval, left))
            interval = min(POLL_MAX, interval * 1.5)

    def events(self, job_id: str, after: str | None = None) -> Iterator[Event]:
        """The job's events (SSE), from the start or after ``after``, until its final event.

        A dropped connection is resumed with ``Last-Event-ID``: no event is lost or repeated.

        Raises:
            NotFoundError: no such job. APIConnectionError: ``max_retries`` drops in a row.
        """
        position, drops = after, 0
        while True:
            headers = {"Last-Event-ID": position} if position else {}
            got_any = False
            try:
                with self._t.stream(
                    "GET",
                    _core.job_path(job_id, "events"),
                    headers={**headers, "Accept": "text/event-stream"},
                    timeout=self._t.options.stream_timeout(),
                ) as response:
                    for sse in EventSource(response).iter_sse():
                        if not sse.data:
                            continue
                        event = Event.model_validate_json(sse.data)
                        position, drops, got_any = sse.id or event.id, 0, True
                        yield event
                        if event.is_final:
                            return
            except httpx.TransportError as exc:
                drops += 1
                if drops > self._t.options.max_retries:
                    raise errors.APIConnectionError(f"event stream of {job_id}: {exc!r}") from exc
                time.sleep(_core.backoff(drops))
                continue
            # A clean end without the final event: the server shed a lagging stream, or the
            # job ended before ``after``. Only the job's status tells which.
            if not got_any and self.get(job_id).is_final:
                return

    def deltas(self, job_id: str, after: str | None = None) -> Iterator[str]:
        """The text of a streaming job (``"stream": true``) as it arrives (``job.delta``)."""
        for event in self.events(job_id, after=after):
            if event.type == "job.delta":
                yield str(event.data.get("content", ""))

    def cancel(self, job_id: str) -> Job:
        """Cancel a job that is not final yet. Raises ConflictError for a finished one."""
        return Job.model_validate(self._t.request("POST", _core.job_path(job_id, "cancel")))

    def tool_results(
        self, job_id: str, results: Mapping[str, str] | Sequence[Mapping[str, str]]
    ) -> Job:
        """Answer an agent job's ``pending_tool_calls`` (``{tool_call_id: result}`` or a list
        of ``{"tool_call_id", "result"}``); the job is queued again.

        Raises:
            ConflictError: the job does not wait for results. ValidationError: an unknown or
            missing ``tool_call_id``.
        """
        body = _core.tool_results_body(results)
        path = _core.job_path(job_id, "tool-results")
        return Job.model_validate(self._t.request("POST", path, json=body))

    def results(self, job_id: str) -> Iterator[BatchResult]:
        """A batch job's per-request results (JSON lines), read as they stream.

        Raises:
            ConflictError: the job is not a batch.
        """
        path = _core.job_path(job_id, "results")
        with self._t.stream("GET", path, timeout=self._t.options.stream_timeout()) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield BatchResult.model_validate(json.loads(line))

    def retry(self, job_id: str) -> Job:
        """Run a failed or cancelled job again with a fresh attempt budget (``/retry``)."""
        return Job.model_validate(self._t.request("POST", _core.job_path(job_id, "retry")))

    def redeliver(self, job_id: str) -> Job:
        """Send the finished job's final callback again, with its original ``webhook-id``."""
        path = _core.job_path(job_id, "callback", "redeliver")
        return Job.model_validate(self._t.request("POST", path))
