"""Response writers with the Content-Types the SDK accepts (mistral-api.md §0, §6).

Chat streams are data-only SSE ending with ``data: [DONE]``; conversation streams are
``event:`` + ``data:`` pairs with no sentinel, closed after the last event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from mistral_queue.dev.emulator.ratelimit import COST_HEADER

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def json_response(data: Any, status: int = 200, *, cost: int = 0) -> Response:
    """An ``application/json`` response; ``cost`` is its token cost for the rate-limit window."""
    return Response(
        orjson.dumps(data),
        status,
        media_type="application/json",
        headers={COST_HEADER: str(cost)},
    )


def data_stream(chunks: Iterable[dict[str, Any]], *, delay_ms: float, cost: int) -> Response:
    """A chat-style stream: one ``data: <json>`` frame per chunk, then ``data: [DONE]``."""
    frames = (b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    return _stream(_chain(frames, [b"data: [DONE]\n\n"]), delay_ms, cost)


def event_stream(
    events: Iterable[tuple[str, dict[str, Any]]], *, delay_ms: float, cost: int
) -> Response:
    """A conversation-style stream: ``event: <type>`` and ``data: <json>`` per event."""
    frames = (
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        for name, data in events
    )
    return _stream(frames, delay_ms, cost)


def _chain(first: Iterable[bytes], second: Iterable[bytes]) -> Iterable[bytes]:
    yield from first
    yield from second


def _stream(frames: Iterable[bytes], delay_ms: float, cost: int) -> Response:
    async def paced() -> AsyncIterator[bytes]:
        for index, frame in enumerate(frames):
            if index and delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            yield frame

    return StreamingResponse(
        paced(),
        media_type="text/event-stream",
        headers={**_SSE_HEADERS, COST_HEADER: str(cost)},
    )
