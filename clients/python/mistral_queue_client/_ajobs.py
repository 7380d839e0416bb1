"""``client.jobs`` of ``AsyncClient``: the same methods as ``_jobs.Jobs``, awaited."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from httpx_sse import EventSource

from mistral_queue_client import _core, errors
from mistral_queue_client._ahttp import AsyncTransport
from mistral_queue_client._jobs import POLL_FIRST, POLL_MAX
from mistral_queue_client.models import BatchResult, Event, Job


class AsyncJobs:
    """The job routes of the intake API (``/v1/jobs``), asynchronously."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def create(
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
        data = await self._t.request(
            "POST", "/v1/jobs", json=body, headers={"Idempotency-Key": key}
        )
        return Job.model_validate(data)

    async def get(self, job_id: str) -> Job:
        """The job now (``GET /v1/jobs/{id}``). Raises NotFoundError for another tenant's."""
        return Job.model_validate(await self._t.request("GET", _core.job_path(job_id)))

    async def list(self, **filters: Any) -> AsyncIterator[Job]:
        """Every job matching ``filters``, newest first, fetching page after page.

        Args:
            **filters: ``status`` and ``type`` (a value or a list), ``created_after``,
                ``created_before`` (datetime or RFC 3339), ``limit`` (page size, ≤ 100).
        """
        params = _core.list_params(filters)
        while True:
            page = await self._t.request("GET", "/v1/jobs", params=params)
            for item in page["data"]:
                yield Job.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def wait(self, job_id: str, timeout: float = 300.0) -> Job:
        """Poll the job until it is final and return it.

        Raises:
            WaitTimeoutError: not final after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        interval = POLL_FIRST
        while True:
            job = await self.get(job_id)
            if job.is_final:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.WaitTimeoutError(f"{job_id} is {job.status} after {timeout} s")
            await asyncio.sleep(min(interval, left))
            interval = min(POLL_MAX, interval * 1.5)

    async def events(self, job_id: str, after: str | None = None) -> AsyncIterator[Event]:
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
                async with self._t.stream(
                    "GET",
                    _core.job_path(job_id, "events"),
                    headers={**headers, "Accept": "text/event-stream"},
                    timeout=self._t.options.stream_timeout(),
                ) as response:
                    async for sse in EventSource(response).aiter_sse():
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
                await asyncio.sleep(_core.backoff(drops))
                continue
            # A clean end without the final event: the server shed a lagging stream, or the
            # job ended before ``after``. Only the job's status tells which.
            if not got_any and (await self.get(job_id)).is_final:
                return

    async def deltas(self, job_id: str, after: str | None = None) -> AsyncIterator[str]:
        """The text of a streaming job (``"stream": true``) as it arrives (``job.delta``)."""
        async for event in self.events(job_id, after=after):
            if event.type == "job.delta":
                yield str(event.data.get("content", ""))

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job that is not final yet. Raises ConflictError for a finished one."""
        return Job.model_validate(await self._t.request("POST", _core.job_path(job_id, "cancel")))

    async def tool_results(
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
        return Job.model_validate(await self._t.request("POST", path, json=body))

    async def results(self, job_id: str) -> AsyncIterator[BatchResult]:
        """A batch job's per-request results (JSON lines), read as they stream.

        Raises:
            ConflictError: the job is not a batch.
        """
        path = _core.job_path(job_id, "results")
        async with self._t.stream(
            "GET", path, timeout=self._t.options.stream_timeout()
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    yield BatchResult.model_validate(json.loads(line))

    async def retry(self, job_id: str) -> Job:
        """Run a failed or cancelled job again with a fresh attempt budget (``/retry``)."""
        return Job.model_validate(await self._t.request("POST", _core.job_path(job_id, "retry")))

    async def redeliver(self, job_id: str) -> Job:
        """Send the finished job's final callback again, with its original ``webhook-id``."""
        path = _core.job_path(job_id, "callback", "redeliver")
        return Job.model_validate(await self._t.request("POST", path))
