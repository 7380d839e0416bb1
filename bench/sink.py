"""A minimal webhook sink for the benchmarks: counts callbacks and tells when each arrived.

A bare ASGI app, so the sink costs as little CPU as possible on a machine it shares with the
parts being measured; unlike ``mistral-queue receiver`` it does not verify signatures.

- ``POST <any other path>``: a callback; the job id is read from the body's ``data.id``
  (our payload; the baseline sends the same shape). Answers 204.
- ``GET /_sink/stats``: ``{"jobs": distinct job ids seen, "posts": POSTs received}``.
- ``GET /_sink/wait?id=JOB&timeout=S``: ``{"time": unix seconds}`` once JOB's first callback
  has arrived, 404 after ``timeout`` seconds.
- ``POST /_sink/reset``: forget everything.
- ``POST /v1/traces``: an OTLP/HTTP trace export (``bench.intake``'s traced side), dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

arrivals: dict[str, float] = {}
waiters: dict[str, asyncio.Event] = {}
posts = 0


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: object = None) -> None:
    payload = b"" if body is None else orjson.dumps(body)
    headers = [(b"content-type", b"application/json")] if payload else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _record(body: bytes) -> None:
    global posts
    now = time.time()
    posts += 1
    job_id = str(orjson.loads(body)["data"]["id"])
    arrivals.setdefault(job_id, now)
    event = waiters.pop(job_id, None)
    if event is not None:
        event.set()


async def _wait(query: bytes) -> tuple[int, object]:
    params = parse_qs(query.decode())
    job_id, timeout = params["id"][0], float(params.get("timeout", ["10"])[0])
    if job_id not in arrivals:
        event = waiters.setdefault(job_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return 404, {"error": "not arrived"}
    return 200, {"time": arrivals[job_id]}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point (``uvicorn bench.sink:app``)."""
    global posts
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    method, path = scope["method"], scope["path"]
    body = await _body(receive)
    if method == "GET" and path == "/_sink/stats":
        await _answer(send, 200, {"jobs": len(arrivals), "posts": posts})
    elif method == "GET" and path == "/_sink/wait":
        await _answer(send, *await _wait(scope["query_string"]))
    elif method == "POST" and path == "/v1/traces":
        await _answer(send, 200)
    elif method == "POST" and path == "/_sink/reset":
        arrivals.clear()
        posts = 0
        await _answer(send, 204)
    elif method == "POST":
        _record(body)
        await _answer(send, 204)
    else:
        await _answer(send, 404, {"error": "not found"})
