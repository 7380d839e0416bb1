"""The upstream HTTP client: sync httpx, one per worker thread (a shared one slows down past ~32
concurrent requests, perf-baseline.md §2), or one per green process (each task there is a new
greenlet). Every call has explicit timeouts (mistral-api.md §5: requests can hang).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, Self

import httpx
import orjson

from mistral_queue import __version__, tracing
from mistral_queue.config import Settings
from mistral_queue.green import is_green
from mistral_queue.mistral.bodies import (
    SSEEvent,
    check_media_type,
    iter_events,
    json_object,
    raise_for_status,
    reader,
)
from mistral_queue.mistral.errors import error_from_exception
from mistral_queue.mistral.parsing import response_headers

#: Seconds an idle connection is kept: below uvicorn's 5 s keep-alive, so we never reuse a
#: connection the server is closing (the RemoteProtocolError race in perf-baseline.md §2).
KEEPALIVE_EXPIRY = 4.0

#: Connections per client; a thread needs one, a few more when it interleaves a stream. A
#: green worker's one client has GREEN_MAX_CONNECTIONS: above any sensible ``--concurrency``.
MAX_CONNECTIONS = 8
GREEN_MAX_CONNECTIONS = 2048

#: Bytes per chunk yielded by ``download``.
DOWNLOAD_CHUNK_BYTES = 64 * 1024

_JSON = "application/json"
_HTTP_ERRORS = (httpx.HTTPError, httpx.InvalidURL)

__all__ = ["MistralClient", "SSEEvent", "UpstreamResponse", "close_clients", "get_client"]


@dataclass(frozen=True)
class UpstreamResponse:
    """A successful (2xx) JSON answer.

    Attributes:
        status_code: the HTTP status.
        json: the JSON object body (``{}`` for an empty body such as a 204).
        headers: the rate-limit headers and ``retry-after(-ms)``, names lower-cased.
        elapsed: seconds from sending the request to reading the whole body.
    """

    status_code: int
    json: dict[str, Any]
    headers: dict[str, str]
    elapsed: float


class MistralClient:
    """A Mistral API client (``max_connections``: its pool); failures raise UpstreamError."""

    def __init__(self, settings: Settings, max_connections: int = MAX_CONNECTIONS) -> None:
        self.settings = settings
        headers = {"User-Agent": f"mistral-queue/{__version__}", "Accept": _JSON}
        if settings.mistral_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.mistral_api_key.get_secret_value()}"
        self._http = httpx.Client(
            base_url=settings.mistral_base_url,
            headers=headers,
            timeout=httpx.Timeout(
                connect=settings.mistral_connect_timeout,
                read=settings.mistral_read_timeout,
                write=settings.mistral_read_timeout,
                pool=settings.mistral_connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            ),
            follow_redirects=False,
        )

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._http.is_closed

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def post(
        self, path: str, body: dict[str, Any], *, request_id: str | None = None
    ) -> UpstreamResponse:
        """POST a JSON body and return the JSON answer.

        Args:
            path: the API path, e.g. ``/v1/chat/completions``.
            body: the request body, sent as JSON.
            request_id: sent as ``X-Request-ID`` (job id and attempt) so the upstream log
                can attribute the call.

        Raises:
            UpstreamError: the subclass for the failure (see ``errors``).
        """
        return self._request("POST", path, request_id, content=orjson.dumps(body), json_body=True)

    def chat_complete(
        self, body: dict[str, Any], *, request_id: str | None = None
    ) -> UpstreamResponse:
        """``POST /v1/chat/completions`` (non-streaming); raises like ``post``."""
        return self.post("/v1/chat/completions", body, request_id=request_id)

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, request_id: str | None = None
    ) -> UpstreamResponse:
        """GET a JSON resource (list values in ``params`` repeat); raises like ``post``."""
        return self._request("GET", path, request_id, params=params)

    def delete(self, path: str, *, request_id: str | None = None) -> UpstreamResponse:
        """DELETE a resource; a 204 gives ``json == {}``. Raises like ``post``."""
        return self._request("DELETE", path, request_id)

    def upload_file(
        self,
        path: str,
        filename: str,
        content: bytes | Iterator[bytes] | IO[bytes],
        purpose: str,
        *,
        request_id: str | None = None,
    ) -> UpstreamResponse:
        """Upload a file as multipart (``file`` part, octet-stream, plus ``purpose``).

        Args:
            path: usually ``/v1/files``.
            filename: the part's filename, e.g. ``batch.jsonl``.
            content: the bytes, a binary file, or an iterator of chunks (sent chunked; an
                iterator can be sent only once, so a retry needs bytes or a seekable file).
            purpose: ``batch``, ``fine-tune``, ``ocr`` … (mistral-api.md §1 Upload).

        Raises:
            UpstreamError: the subclass for the failure.
        """
        file = (
            content if isinstance(content, bytes) or hasattr(content, "read") else reader(content)
        )
        files = {"file": (filename, file, "application/octet-stream")}
        return self._request("POST", path, request_id, files=files, data={"purpose": purpose})

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str | None = None
    ) -> Generator[SSEEvent, None, None]:
        """POST a body and yield its Server-Sent Events as they arrive.

        Understands both stream forms of mistral-api.md: the chat/agents one (``data:``
        only, ends at ``data: [DONE]``) and the conversation one (``event:`` + ``data:``,
        ends when the connection closes). The request is sent on the first ``next()``;
        ``close()`` the generator to hang up early.

        Raises:
            UpstreamError: for a non-2xx first answer, as ``post`` does.
            UpstreamConnectionError: when the connection drops mid-stream, or a data-only
                stream ends without ``[DONE]``.
            InvalidResponse: when the answer is not ``text/event-stream`` or an event's data
                is not a JSON object.
        """
        headers = self._headers(request_id, accept="text/event-stream", json_body=True)
        headers["Cache-Control"] = "no-store"
        try:
            with self._http.stream("POST", path, content=orjson.dumps(body), headers=headers) as r:
                raise_for_status(r)
                check_media_type(r, "text/event-stream")
                yield from iter_events(r)
        except _HTTP_ERRORS as exc:
            raise error_from_exception(exc) from exc

    def download(self, path: str, *, request_id: str | None = None) -> Generator[bytes, None, None]:
        """GET raw bytes (e.g. ``/v1/files/{id}/content``), yielded in chunks as they arrive.

        The request is sent on the first ``next()``; ``close()`` the generator to hang up early.

        Raises:
            UpstreamError: for a non-2xx answer, or UpstreamConnectionError / UpstreamTimeout
                when the transfer breaks off.
        """
        headers = self._headers(request_id, accept="application/octet-stream")
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                raise_for_status(response)
                yield from response.iter_bytes(DOWNLOAD_CHUNK_BYTES)
        except _HTTP_ERRORS as exc:
            raise error_from_exception(exc) from exc

    def _request(
        self, method: str, path: str, request_id: str | None, *, json_body: bool = False, **kw: Any
    ) -> UpstreamResponse:
        headers = self._headers(request_id, json_body=json_body)
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, headers=headers, **kw)
        except _HTTP_ERRORS as exc:
            raise error_from_exception(exc) from exc
        raise_for_status(response)
        return UpstreamResponse(
            status_code=response.status_code,
            json=json_object(response.content) if response.content else {},
            headers=response_headers(response.headers),
            elapsed=time.perf_counter() - started,
        )

    @staticmethod
    def _headers(
        request_id: str | None, *, accept: str | None = None, json_body: bool = False
    ) -> dict[str, str]:
        headers = {}
        if request_id:
            headers["X-Request-ID"] = request_id
        if accept:
            headers["Accept"] = accept
        if json_body:
            headers["Content-Type"] = _JSON
        # The attempt's span (tracing.upstream_span) as the upstream's parent.
        return tracing.inject(headers)


class _Registry:
    """The per-thread clients of one process (and the one shared client of a green one)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.client: MistralClient | None = None
        self.clients: weakref.WeakSet[MistralClient] = weakref.WeakSet()
        self.lock = threading.Lock()


_registry = _Registry()


def get_client(settings: Settings) -> MistralClient:
    """This thread's client for ``settings`` (a green process's one client), made on first use.

    Never used in a process forked after it was made (the child starts with none), nor
    reused after ``close_clients`` or for other settings.
    """
    registry = _registry
    green = is_green()
    holder: Any = registry if green else registry.local
    client: MistralClient | None = getattr(holder, "client", None)
    if client is not None and not client.closed:
        if client.settings is settings:
            return client
        client.close()
    client = MistralClient(settings, GREEN_MAX_CONNECTIONS if green else MAX_CONNECTIONS)
    holder.client = client
    with registry.lock:
        registry.clients.add(client)
    return client


def close_clients() -> None:
    """Close every client made by ``get_client`` in this process (worker shutdown)."""
    registry = _registry
    with registry.lock:
        clients = list(registry.clients)
        registry.clients.clear()
    for client in clients:
        client.close()


def _forget_parent_clients() -> None:
    # The child must neither reuse nor close the sockets it shares with its parent, and a
    # lock another thread held at fork time would stay locked forever: start afresh.
    global _registry
    _registry = _Registry()


os.register_at_fork(after_in_child=_forget_parent_clients)
