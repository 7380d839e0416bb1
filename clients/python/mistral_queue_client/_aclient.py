"""``AsyncClient``: the asynchronous entry point, the same surface as ``Client``, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from mistral_queue_client import _core
from mistral_queue_client._ahttp import AsyncTransport
from mistral_queue_client._ajobs import AsyncJobs
from mistral_queue_client.models import Endpoint, EndpointAttempt, Job, Usage


class AsyncEndpoints:
    """Registered webhook endpoints (``/v1/endpoints``), each with its own secret and filters."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def create(self, url: str, **fields: Any) -> Endpoint:
        """Register ``url``; ``fields``: ``event_types``, ``description``, ``disabled``,
        ``rate_limit`` (per second)."""
        body = {"url": url, **{k: v for k, v in fields.items() if v is not None}}
        return Endpoint.model_validate(await self._t.request("POST", "/v1/endpoints", json=body))

    async def list(self, limit: int | None = None) -> AsyncIterator[Endpoint]:
        """Every endpoint of the tenant, page after page."""
        params: dict[str, Any] = {"limit": limit} if limit else {}
        while True:
            page = await self._t.request("GET", "/v1/endpoints", params=params)
            for item in page["data"]:
                yield Endpoint.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def get(self, endpoint_id: str) -> Endpoint:
        return Endpoint.model_validate(
            await self._t.request("GET", _core.endpoint_path(endpoint_id))
        )

    async def update(self, endpoint_id: str, **fields: Any) -> Endpoint:
        """Change some fields (``PATCH``): only those given are sent."""
        path = _core.endpoint_path(endpoint_id)
        return Endpoint.model_validate(await self._t.request("PATCH", path, json=fields))

    async def delete(self, endpoint_id: str) -> None:
        await self._t.request("DELETE", _core.endpoint_path(endpoint_id))

    async def secret(self, endpoint_id: str) -> str:
        """The endpoint's own signing secret, ``whsec_…``."""
        data = await self._t.request("GET", _core.endpoint_path(endpoint_id, "secret"))
        return str(data["key"])

    async def rotate_secret(self, endpoint_id: str, key: str | None = None) -> None:
        """Start signing with ``key`` (or a new server-made one); the old one has a grace time."""
        body = {"key": key} if key else {}
        await self._t.request(
            "POST", _core.endpoint_path(endpoint_id, "secret", "rotate"), json=body
        )

    async def attempts(self, endpoint_id: str) -> AsyncIterator[EndpointAttempt]:
        """The endpoint's delivery attempts, newest first, page after page."""
        params: dict[str, Any] = {}
        path = _core.endpoint_path(endpoint_id, "attempts")
        while True:
            page = await self._t.request("GET", path, params=params)
            for item in page["data"]:
                yield EndpointAttempt.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def recover(self, endpoint_id: str, since: datetime | str) -> Any:
        """Send again what failed to this endpoint since ``since`` (same ``webhook-id``s)."""
        when = since.isoformat() if isinstance(since, datetime) else since
        path = _core.endpoint_path(endpoint_id, "recover")
        return await self._t.request("POST", path, json={"since": when})


class AsyncClient:
    """A client of one mistral-queue API, as one tenant.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000``.
        api_key: an intake API key.
        timeout: seconds per request (event streams read for at least 45 s).
        max_retries: retries of 429/503 answers and dropped connections (0 = none).
        http_client: an ``httpx.AsyncClient`` of your own (proxies, TLS); not closed by ``aclose``.

    Use as an async context manager, or await ``aclose()``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        options = _core.Options(base_url, api_key, timeout, max_retries)
        self._transport = AsyncTransport(options, http_client)
        self.jobs = AsyncJobs(self._transport)
        self.endpoints = AsyncEndpoints(self._transport)

    async def usage(
        self,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        group_by: str | None = None,
    ) -> Usage:
        """The tenant's tokens, cost and job count (``GET /v1/usage``), grouped by model/day."""
        params = _core.list_params({"from": from_, "to": to, "group_by": group_by})
        return Usage.model_validate(
            await self._transport.request("GET", "/v1/usage", params=params)
        )

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        wait: bool = True,
        timeout: float = 300.0,
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Job:
        """Submit a chat job (``kw``: any Mistral chat field) and, with ``wait``, return it final.

        The completion is ``job.result`` (``job.result["choices"][0]["message"]["content"]``).
        """
        request = _core.chat_request(model, messages, **kw)
        job = await self.jobs.create("chat", request, callback_url=callback_url, metadata=metadata)
        return await self.jobs.wait(job.id, timeout) if wait else job

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
