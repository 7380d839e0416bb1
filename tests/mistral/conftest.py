"""A tiny real upstream for the client tests: uvicorn in a thread on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

#: Seconds any server start or stop may take before the test fails.
DEADLINE = 10.0

#: Bytes served by the download route.
FILE_BYTES = bytes(range(256)) * 1200


def _sse(*frames: str) -> list[bytes]:
    return [frame.encode() for frame in frames]


CHAT_FRAMES = _sse(
    ": keep-alive\n\n",
    'data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
    'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
    'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],'
    ' "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
    "data: [DONE]\n\n",
    'data: {"after":"done"}\n\n',
)

CONVERSATION_FRAMES = _sse(
    "event: conversation.response.started\n"
    'data: {"type":"conversation.response.started","conversation_id":"conv_1"}\n\n',
    "event: message.output.delta\n"
    'data: {"type":"message.output.delta","id":"msg_1","content":"Hi"}\n\n',
    "event: conversation.response.done\n"
    'data: {"type":"conversation.response.done","usage":{"total_tokens":4}}\n\n',
)


async def _frames(frames: list[bytes], *, cut: bool = False) -> AsyncIterator[bytes]:
    for frame in frames:
        yield frame
        await asyncio.sleep(0)
    if cut:
        raise RuntimeError("simulated upstream crash mid-stream")


def _event_stream(frames: list[bytes], *, cut: bool = False) -> StreamingResponse:
    return StreamingResponse(_frames(frames, cut=cut), media_type="text/event-stream")


async def echo(request: Request) -> Response:
    raw = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "headers": dict(request.headers.items()),
            "params": list(request.query_params.multi_items()),
            "body": json.loads(raw) if raw else None,
        },
        headers={"x-ratelimit-remaining-req-minute": "59", "x-other": "dropped"},
    )


async def no_content(request: Request) -> Response:
    return Response(status_code=204)


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    headers = {"retry-after": "2"}
    if "limit" in request.query_params:
        headers["x-ratelimit-limit-req-minute"] = request.query_params["limit"]
    body = {"object": "error", "message": f"status {code}", "type": "t", "code": None}
    return JSONResponse(body, status_code=code, headers=headers)


async def slow(request: Request) -> Response:
    await asyncio.sleep(1.0)
    return JSONResponse({"late": True})


async def not_json(request: Request) -> Response:
    return Response("hello", media_type="text/plain")


async def redirect(request: Request) -> Response:
    return RedirectResponse("/v1/things", status_code=307)


async def stream(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "chat":
        return _event_stream(CHAT_FRAMES)
    if kind == "conversation":
        return _event_stream(CONVERSATION_FRAMES)
    if kind == "cut":
        return _event_stream(CHAT_FRAMES[:3], cut=True)
    if kind == "no-done":
        return _event_stream(CHAT_FRAMES[:3])
    if kind == "bad-data":
        return _event_stream(_sse("data: not json\n\n"))
    if kind == "json":
        return JSONResponse({"not": "a stream"})
    return await status(request)


async def upload(request: Request) -> Response:
    async with request.form() as form:
        file = form["file"]
        assert not isinstance(file, str)
        content = await file.read()
        return JSONResponse(
            {
                "filename": file.filename,
                "content_type": file.content_type,
                "purpose": form["purpose"],
                "bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )


async def download(request: Request) -> Response:
    chunks = [FILE_BYTES[i : i + 10_000] for i in range(0, len(FILE_BYTES), 10_000)]
    cut = request.path_params["file_id"] == "cut"
    return StreamingResponse(
        _frames(chunks[:3] if cut else chunks, cut=cut), media_type="application/octet-stream"
    )


class CutBody:
    """A raw ASGI app (not a Starlette endpoint): promise 1000 bytes, send 10, then die."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial"', "more_body": True})
        raise RuntimeError("simulated upstream crash mid-body")


APP = Starlette(
    routes=[
        Route("/v1/chat/completions", echo, methods=["POST"]),
        Route("/v1/things", echo, methods=["GET", "POST"]),
        Route("/v1/things/{thing_id}", no_content, methods=["DELETE"]),
        Route("/status/{code:int}", status, methods=["GET", "POST"]),
        Route("/slow", slow, methods=["POST"]),
        Route("/not-json", not_json, methods=["POST"]),
        Route("/redirect", redirect, methods=["GET"]),
        Route("/stream/{kind}", stream, methods=["POST"]),
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files/{file_id}/content", download, methods=["GET"]),
        Route("/cut", CutBody(), methods=["POST"]),
    ]
)


@dataclass(frozen=True)
class Upstream:
    """Where the test upstream listens."""

    url: str


def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {DEADLINE} s")
        time.sleep(0.01)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The routes above, served by uvicorn in a daemon thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(APP, log_level="critical", lifespan="off", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait_until(lambda: server.started, "uvicorn did not start")
    yield Upstream(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server.should_exit = True
    thread.join(DEADLINE)
    sock.close()


def _read_request(conn: socket.socket) -> None:
    """Read one whole HTTP request, so closing sends a FIN, never a RST for unread bytes."""
    conn.settimeout(DEADLINE)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
         if line.lower().startswith(b"content-length:")),
        0,
    )  # fmt: skip
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@pytest.fixture(scope="session")
def hangup_url() -> Iterator[str]:
    """A TCP server that accepts each connection and closes it without a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            _read_request(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(DEADLINE)
    listener.close()


@pytest.fixture
def closed_port_url() -> str:
    """A 127.0.0.1 URL on a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
