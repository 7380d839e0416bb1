"""``Client``: the synchronous entry point (``client.jobs``, ``client.endpoints``, ``usage``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from mistral_queue_client import _core
from mistral_queue_client._http import SyncTransport
from mistral_queue_client._jobs import Jobs
from mistral_queue_client.models import Endpoint, EndpointAttempt, Job, Usage


class Endpoints:
    """Registered webhook endpoints (``/v1/endpoints``), each with its own secret and filters."""

    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport

    def create(self, url: str, **fields: Any) -> Endpoint:
        """Register ``url``; ``fields``: ``event_types``, ``description``, ``disabled``,
        ``rate_limit`` (per second)."""
        body = {"url": url, **{k: v for k, v in fields.items() if v is not None}}
        return Endpoint.model_validate(self._t.request("POST", "/v1/endpoints", json=body))

    def list(self, limit: int | None = None) -> Iterator[Endpoint]:
        """Every endpoint of the tenant, page after page."""
        params: dict[str, Any] = {"limit": limit} if limit else {}
        while True:
            page = self._t.request("GET", "/v1/endpoints", params=params)
            yield from (Endpoint.model_validate(item) for item in page["data"])
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def get(self, endpoint_id: str) -> Endpoint:
        return Endpoint.model_validate(self._t.request("GET", _core.endpoint_path(endpoint_id)))

    def update(self, endpoint_id: str, **fields: Any) -> Endpoint:
        """Change some fields (``PATCH``): only those given are sent."""
        path = _core.endpoint_path(endpoint_id)
        return Endpoint.model_validate(self._t.request("PATCH", path, json=fields))

    def delete(self, endpoint_id: str) -> None:
        self._t.request("DELETE", _core.endpoint_path(endpoint_id))

    def secret(self, endpoint_id: str) -> str:
        """The endpoint's own signing secret, ``whsec_…``."""
        data = self._t.request("GET", _core.endpoint_path(endpoint_id, "secret"))
        return str(data["key"])

    def rotate_secret(self, endpoint_id: str, key: str | None = None) -> None:
        """Start signing with ``key`` (or a new server-made one); the old one has a grace time."""
        body = {"key": key} if key else {}
        self._t.request("POST", _core.endpoint_path(endpoint_id, "secret", "rotate"), json=body)

    def attempts(self, endpoint_id: str) -> Iterator[EndpointAttempt]:
        """The endpoint's delivery attempts, newest first, page after page."""
        params: dict[str, Any] = {}
        path = _core.endpoint_path(endpoint_id, "attempts")
        while True:
            page = self._t.request("GET", path, params=params)
            yield from (EndpointAttempt.model_validate(item) for item in page["data"])
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def recover(self, endpoint_id: str, since: datetime | str) -> Any:
        """Send again what failed to this endpoint since ``since`` (same ``webhook-id``s)."""
        when = since.isoformat() if isinstance(since, datetime) else since
        path = _core.endpoint_path(endpoint_id, "recover")
        return self._t.request("POST", path, json={"since": when})


class Client:
    """A client of one mistral-queue API, as one tenant.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000``.
        api_key: an intake API key.
        timeout: seconds per request (event streams read for at least 45 s).
        max_retries: retries of 429/503 answers and dropped connections (0 = none).
        http_client: an ``httpx.Client`` of your own (proxies, TLS); not closed by ``close``.

    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: httpx.Client | None = None,
    ) -> None:
        options = _core.Options(base_url, api_key, timeout, max_retries)
        self._transport = SyncTransport(options, http_client)
        self.jobs = Jobs(self._transport)
        self.endpoints = Endpoints(self._transport)

    def usage(
        self,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        group_by: str | None = None,
    ) -> Usage:
        """The tenant's tokens, cost and job count (``GET /v1/usage``), grouped by model/day."""
        params = _core.list_params({"from": from_, "to": to, "group_by": group_by})
        return Usage.model_validate(self._transport.request("GET", "/v1/usage", params=params))

    def chat(
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
        job = self.jobs.create("chat", request, callback_url=callback_url, metadata=metadata)
        return self.jobs.wait(job.id, timeout) if wait else job

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
