"""Body helpers for the client: Server-Sent Events (via httpx-sse), JSON objects, chunk readers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource

from mistral_queue.mistral.errors import (
    InvalidResponse,
    UpstreamConnectionError,
    error_from_response,
)

#: The data of the frame that ends a chat or agents completion stream (mistral-api.md §1).
DONE = "[DONE]"

# httpx-sse names an event without an ``event:`` line "message", per the SSE spec.
_UNNAMED = "message"


@dataclass(frozen=True)
class SSEEvent:
    """One Server-Sent Event of a Mistral stream.

    Attributes:
        event: the ``event:`` name (conversation streams), None for data-only chat chunks.
        data: the event's JSON payload.
    """

    event: str | None
    data: dict[str, Any]


def iter_events(response: httpx.Response) -> Iterator[SSEEvent]:
    """Yield the events of an open ``text/event-stream`` response.

    Comment lines (``:``) and events without data are skipped; ``data: [DONE]`` ends the
    stream. A data-only (chat) stream must end with ``[DONE]``: a clean close before it
    means the stream was cut, and raises UpstreamConnectionError. Conversation streams
    (named events) end when the connection closes.

    Raises:
        InvalidResponse: when an event's data is not a JSON object.
        UpstreamConnectionError: for a data-only stream closed before ``[DONE]``.
        httpx.HTTPError: when the transfer breaks off (the client maps it).
    """
    data_only = False
    for sse in EventSource(response).iter_sse():
        if sse.data == DONE:
            return
        if not sse.data:
            continue
        named = sse.event != _UNNAMED
        data_only = data_only or not named
        yield SSEEvent(event=sse.event if named else None, data=json_object(sse.data))
    if data_only:
        raise UpstreamConnectionError("the stream closed before data: [DONE]")


def raise_for_status(response: httpx.Response) -> None:
    """Read a non-2xx answer's body and raise its error (see ``error_from_response``)."""
    if not response.is_success:
        response.read()
        raise error_from_response(response)


def check_media_type(response: httpx.Response, expected: str) -> None:
    """Compare the media type, ignoring parameters such as charset (mistral-api.md §0).

    Raises:
        InvalidResponse: naming the media type received.
    """
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != expected:
        response.read()
        raise InvalidResponse(
            f"expected {expected}, got {media_type or 'no content type'}",
            status_code=response.status_code,
            body=response.text[:200] or None,
        )


def json_object(raw: str | bytes) -> dict[str, Any]:
    """Parse a JSON object.

    Raises:
        InvalidResponse: when ``raw`` is not JSON or not an object.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidResponse(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidResponse(f"expected a JSON object, got {type(value).__name__}")
    return value


class _ChunkReader(io.RawIOBase):
    """A read-only binary file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def reader(chunks: Iterator[bytes]) -> io.BufferedReader:
    """Wrap an iterator of byte chunks as a binary file, so httpx can send it chunked."""
    return io.BufferedReader(_ChunkReader(chunks))
