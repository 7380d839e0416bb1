"""ASGI middleware in front of every ``/v1/`` route: auth, faults, rate-limit headers, the log.

It buffers the request body (to hash it and read the fault marker), decides the fault step
(``control.py``), then answers the error, closes the connection, or calls the routes with the
body replayed. Dropping closes the uvicorn transport itself, so the client sees a connection
closed without any response bytes (httpx: ``RemoteProtocolError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mistral_queue.dev.emulator.errors import (
    EmulatorError,
    FaultSyntaxError,
    error_body,
    fault_response,
    unauthorized_response,
)
from mistral_queue.dev.emulator.faults import FAULT_HEADER, FaultStep, find_marker
from mistral_queue.dev.emulator.ratelimit import COST_HEADER, ratelimit_headers
from mistral_queue.dev.emulator.state import EmulatorState, LogEntry
from mistral_queue.dev.emulator.text import last_user_text

#: Scope key under which ``EmulatorApp`` puts the connection's asyncio transport.
TRANSPORT_KEY = "emulator.transport"
#: Scope key set when the fault step asks a stream to end with an error.
STREAM_ERROR_KEY = "emulator.stream_error"
#: Seconds to wait for uvicorn to notice a connection we closed.
_DISCONNECT_WAIT = 5.0


@dataclass
class _Call:
    """What the middleware learns about one call while handling it."""

    seq: int
    monotonic: float
    wall: float
    body: bytes
    status: int | None = None
    dropped: bool = False
    step: FaultStep | None = None
    source: str = ""
    payload: Any = field(default=None)


class EmulatorMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        call = _Call(
            seq=self.state.log.next_seq(),
            monotonic=time.monotonic(),
            wall=time.time(),
            body=await _read_body(receive),
        )
        try:
            await self._handle(call, scope, receive, send)
        finally:
            self._record(call, scope)

    async def _handle(self, call: _Call, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        responder = _Responder(send, self.state, receive, scope.get(TRANSPORT_KEY))
        try:
            if not _authorized(headers, self.state.config.api_keys):
                await unauthorized_response()(scope, receive, responder)
                return
            call.payload = _parse_json(call.body)
            marker = find_marker(last_user_text(call.payload))
            try:
                call.step, call.source = self.state.faults.decide(
                    scope["path"], headers.get(FAULT_HEADER), _marker_key(scope, call), marker
                )
            except FaultSyntaxError as exc:
                await _emulator_error(str(exc))(scope, receive, responder)
                return
            await self._apply(call.step, scope, _replay(call.body, receive), responder)
        finally:
            call.status, call.dropped = responder.status, responder.dropped

    async def _apply(
        self, step: FaultStep, scope: Scope, receive: Receive, send: _Responder
    ) -> None:
        if step.latency_ms:
            await asyncio.sleep(step.latency_ms / 1000)
        if step.drop:
            await send.drop()
        elif step.status is not None:
            retry_after = step.retry_after
            if retry_after is None and step.status == 429:
                retry_after = self.state.faults.faults.retry_after_seconds
            response = fault_response(step.status, retry_after=retry_after, capacity=step.capacity)
            await response(scope, receive, send)
        else:
            send.cut = step.cut
            scope[STREAM_ERROR_KEY] = step.stream_error
            await self.app(scope, receive, send)
            if send.dropped:
                await send.wait_disconnect()

    def _record(self, call: _Call, scope: Scope) -> None:
        status = call.status
        outcome = "ok" if status is not None and status < 400 else "error"
        if call.dropped or status is None:
            outcome = "dropped"
        step = call.step
        injected = step is not None and call.source != ""
        payload = call.payload if isinstance(call.payload, dict) else {}
        headers = Headers(scope=scope)
        entry = LogEntry(
            seq=call.seq,
            monotonic=call.monotonic,
            time=call.wall,
            method=scope["method"],
            path=scope["path"],
            status=status,
            outcome=outcome,
            request_id=headers.get("x-request-id"),
            body_sha256=hashlib.sha256(call.body).hexdigest(),
            duration_ms=round((time.monotonic() - call.monotonic) * 1000, 3),
            fault=step.describe() if injected and step is not None else None,
            fault_source=call.source or None,
            stream=payload.get("stream") is True,
            traceparent=headers.get("traceparent"),
        )
        self.state.log.append(entry)


class _Responder:
    """The ``send`` given to routes: adds rate-limit headers, records usage, can cut the body."""

    def __init__(self, send: Send, state: EmulatorState, receive: Receive, transport: Any) -> None:
        self._send = send
        self._transport = transport
        self._state = state
        self._receive = receive
        self.status: int | None = None
        self.dropped = False
        self.cut = False
        self._bodies = 0

    async def __call__(self, message: Message) -> None:
        if self.dropped:
            return
        if message["type"] == "http.response.start":
            message = self._start(message)
        elif message["type"] == "http.response.body" and self.cut:
            await self._cut_body(message)
            return
        await self._send(message)

    def _start(self, message: Message) -> Message:
        self.status = int(message["status"])
        headers = [
            (k, v) for k, v in message.get("headers", []) if k.lower() != COST_HEADER.encode()
        ]
        cost = next((int(v) for k, v in message.get("headers", []) if k == COST_HEADER.encode()), 0)
        now = time.monotonic()
        if self.status != 429:
            self._state.window.record(now, cost)
        headers += ratelimit_headers(self._state.config, self._state.window, now, cost)
        return {**message, "headers": headers}

    async def _cut_body(self, message: Message) -> None:
        self._bodies += 1
        if self._bodies == 1 and message.get("more_body", False):
            await self._send(message)
            return
        if self._bodies == 1:
            half = message.get("body", b"")[: len(message.get("body", b"")) // 2]
            await self._send({"type": "http.response.body", "body": half, "more_body": True})
        await self.drop()

    async def drop(self) -> None:
        """Close the client connection now, whatever was sent so far."""
        # uvloop's transports are not asyncio.BaseTransport subclasses: check the method.
        if not callable(getattr(self._transport, "close", None)):
            raise EmulatorError("dropping a connection needs the emulator to run under uvicorn")
        self._transport.close()
        self.dropped = True
        await self.wait_disconnect()

    async def wait_disconnect(self) -> None:
        """Wait until uvicorn has seen the close, so it does not answer a 500 itself."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DISCONNECT_WAIT):
                while (await self._receive())["type"] != "http.disconnect":
                    continue


def wants_stream_error(scope: Scope) -> bool:
    """Whether this call's fault step is ``stream_error``."""
    return bool(scope.get(STREAM_ERROR_KEY, False))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def _authorized(headers: Headers, keys: frozenset[str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    return not keys or token in keys


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def _marker_key(scope: Scope, call: _Call) -> str:
    """Key of the marker counter: the path and the body with its keys sorted."""
    if call.payload is None:
        canonical = call.body
    else:
        canonical = orjson.dumps(call.payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(scope["path"].encode() + b"\n" + canonical).hexdigest()


def _emulator_error(message: str) -> JSONResponse:
    return JSONResponse(error_body(message, "emulator_error", "fault_syntax"), 400)
