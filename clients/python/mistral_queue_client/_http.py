"""The synchronous transport: one request with retries, or one streamed response."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from mistral_queue_client import _core, errors


class SyncTransport:
    """Sends requests to the API with the client's retry policy (``_core.retry_delay``).

    Args:
        options: base URL, key, timeout and retry budget.
        http_client: an ``httpx.Client`` to use (its base URL and headers are left alone);
            by default one is made and closed with this transport.
    """

    def __init__(self, options: _core.Options, http_client: httpx.Client | None = None) -> None:
        self.options = options
        self._owned = http_client is None
        self._http = http_client or httpx.Client(timeout=options.timeout)

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def _build(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        url = self.options.base_url.rstrip("/") + path
        extensions = {"timeout": timeout.as_dict()} if timeout is not None else None
        return self._http.build_request(
            method,
            url,
            json=json,
            params=params,
            headers={**self.options.headers(), **_core.trace_headers(), **(headers or {})},
            extensions=extensions,
        )

    def _send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        """The first 2xx response; retries 429/503 and (when safe) dropped connections.

        Raises:
            APIError: an error status that is not retried, or the last one.
            APIConnectionError: the API could not be reached on any try.
        """
        may_resend = _core.idempotent(request.method, request.headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                delay = self._transport_delay(exc, attempt, resend=True)
            except httpx.TransportError as exc:
                delay = self._transport_delay(exc, attempt, resend=may_resend)
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = errors.from_response(response)
                wait = _core.retry_delay(error, attempt, self.options.max_retries)
                if wait is None:
                    raise error
                delay = wait
            time.sleep(delay)

    def _transport_delay(self, exc: httpx.TransportError, attempt: int, *, resend: bool) -> float:
        if not resend or attempt > self.options.max_retries:
            raise errors.APIConnectionError(f"{exc.request.url}: {exc!r}") from exc
        return _core.backoff(attempt)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """The decoded JSON body of a request (None for an empty body)."""
        response = self._send(self._build(method, path, **kw), stream=False)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A 2xx response whose body is read as it arrives; closed on leaving the block."""
        response = self._send(self._build(method, path, **kw), stream=True)
        try:
            yield response
        finally:
            response.close()
