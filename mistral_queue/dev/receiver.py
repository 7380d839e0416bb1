"""The development webhook receiver: verifies, prints and remembers every callback.

``mistral-queue receiver`` runs it so a user can watch callbacks arrive; tests run it in a
thread (``running_receiver``) and drive it through a small control API:

- ``GET /_receiver/events``: ``{"events": [...], "failed": [...], "rejected": n,
  "rejections": [...]}``. ``events`` are deliveries answered 2xx, ``failed`` those answered
  a planned non-2xx; each is ``{webhook_id, path, headers, body, received_at, status,
  duplicate, outcome}`` (``duplicate``: an earlier accepted delivery had the same
  webhook-id; ``outcome``: ``accepted`` or ``failed``).
- ``POST /_receiver/plan``: ``{"fail_next": [500, 503], "status_after": 200,
  "retry_after": null, "delay": 0}``: answer the next deliveries with those statuses, then
  ``status_after``; ``retry_after`` (seconds) is sent on non-2xx answers, ``delay`` (seconds)
  holds every answer back (to provoke sender timeouts).
- ``POST /_receiver/reset``: forget everything and drop the plan.

Every other POST path is a webhook endpoint. A bad signature gets 401 and a body that is not
JSON 400, both as ``{"error": {"type", "message"}}``, and neither consumes the plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from rich.console import Console
from rich.text import Text

from mistral_queue.dev.receiver_console import console_printer
from mistral_queue.webhooks.errors import PayloadError, SignatureError, WebhookError
from mistral_queue.webhooks.signing import Secret, verify

Printer = Callable[[dict[str, Any]], None]

#: Deliveries of each kind kept in memory; older ones are dropped.
HISTORY = 1000

#: Statuses a plan may use; 1xx would not be a final answer.
Status = Annotated[int, Field(ge=200, le=599)]


class Plan(BaseModel):
    """How the receiver answers the next deliveries."""

    fail_next: list[Status] = Field(default_factory=list)
    status_after: Status = 200
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0, le=60)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.events: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.failed: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.rejections: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.rejected = 0
        self.plan = Plan()

    def next_status(self) -> int:
        return self.plan.fail_next.pop(0) if self.plan.fail_next else self.plan.status_after

    def reject(self, webhook_id: str | None, reason: str) -> dict[str, Any]:
        self.rejected += 1
        rejection = {"webhook_id": webhook_id, "reason": reason, "received_at": _now()}
        self.rejections.append(rejection)
        return {**rejection, "outcome": "rejected"}

    def record(
        self, webhook_id: str | None, path: str, headers: dict[str, str], body: Any
    ) -> dict[str, Any]:
        """Answer a verified delivery per the plan and remember it; returns the record."""
        status = self.next_status()
        ok = 200 <= status < 300
        record = {
            "webhook_id": webhook_id,
            "path": path,
            "headers": headers,
            "body": body,
            "received_at": _now(),
            "status": status,
            "duplicate": any(e["webhook_id"] == webhook_id for e in self.events),
            "outcome": "accepted" if ok else "failed",
        }
        (self.events if ok else self.failed).append(record)
        return record

    def snapshot(self) -> dict[str, Any]:
        return {
            "events": list(self.events),
            "failed": list(self.failed),
            "rejected": self.rejected,
            "rejections": list(self.rejections),
        }


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def create_receiver_app(secrets: Sequence[Secret], *, printer: Printer | None = None) -> FastAPI:
    """Build the receiver app.

    Args:
        secrets: the secrets deliveries are verified with (any one may match).
        printer: called with each delivery record (see ``console_printer``); None is quiet.

    Raises:
        ValueError: when ``secrets`` is empty.
    """
    if not secrets:
        raise ValueError("the receiver needs at least one webhook secret")
    keys = list(secrets)
    state = _State()
    show = printer or (lambda record: None)
    app = FastAPI(title="mistral-queue webhook receiver", docs_url=None, redoc_url=None)

    @app.get("/_receiver/events")
    async def events() -> dict[str, Any]:
        return state.snapshot()

    @app.post("/_receiver/plan")
    async def plan(new_plan: Plan) -> dict[str, Any]:
        state.plan = new_plan
        return new_plan.model_dump()

    @app.post("/_receiver/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    @app.get("/")
    async def about() -> dict[str, Any]:
        return {"receiver": "mistral-queue", "accepted": len(state.events)}

    @app.post("/{path:path}")
    async def receive(request: Request, path: str) -> JSONResponse:
        body = await request.body()
        webhook_id = request.headers.get("webhook-id")
        try:
            payload = verify(body, request.headers, keys)
        except (SignatureError, PayloadError) as exc:
            show(state.reject(webhook_id, str(exc)))
            if isinstance(exc, PayloadError):
                return _error(400, "invalid_body", str(exc))
            return _error(401, "invalid_signature", str(exc))
        current = state.plan
        record = state.record(webhook_id, "/" + path, dict(request.headers), payload)
        show(record)
        if current.delay:
            await asyncio.sleep(current.delay)
        return _answer(record["status"], current, webhook_id)

    return app


def _answer(status: int, plan: Plan, webhook_id: str | None) -> JSONResponse:
    if 200 <= status < 300:
        return JSONResponse({"received": webhook_id}, status_code=status)
    response = _error(status, "planned_failure", f"the receiver's plan answered {status}")
    if plan.retry_after is not None:
        response.headers["retry-after"] = f"{plan.retry_after:g}"
    if 300 <= status < 400:
        response.headers["location"] = "/_receiver/moved"
    return response


def serve_receiver(host: str, port: int, secrets: Sequence[Secret]) -> None:
    """Run the receiver with uvicorn until interrupted, printing each delivery (blocking).

    Raises:
        ValueError: when ``secrets`` is empty.
    """
    console = Console(highlight=False)
    app = create_receiver_app(secrets, printer=console_printer(console))
    shown = f"[{host}]" if ":" in host else host
    console.print(
        Text("mistral-queue receiver ", style="bold")
        .append(f"listening on http://{shown}:{port}/", style="cyan")
        .append(f"  (verifying with {len(secrets)} secret(s); Ctrl+C to stop)", style="dim")
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


class RunningReceiver:
    """A receiver served by uvicorn in a background thread (tests, ``mistral-queue dev``)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        #: Base URL, e.g. ``http://127.0.0.1:54321``; POST callbacks to any path under it.
        self.url = url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait up to ``timeout`` seconds for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.contextmanager
def running_receiver(
    secrets: Sequence[Secret],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    printer: Printer | None = None,
    startup_timeout: float = 10.0,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> Iterator[RunningReceiver]:
    """Serve a receiver in a thread for the duration of the block.

    Args:
        secrets: the verification secrets.
        host: the address to listen on.
        port: the port; 0 picks a free one (read it from ``RunningReceiver.url``).
        printer: as for ``create_receiver_app``.
        startup_timeout: seconds to wait for uvicorn to start.
        certfile: PEM certificate chain; with ``keyfile`` the receiver serves HTTPS.
        keyfile: PEM private key of ``certfile``.

    Raises:
        WebhookError: when the server does not start in time.
        OSError: when the address cannot be bound.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        create_receiver_app(secrets, printer=printer),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if certfile else "http"
    running = RunningReceiver(server, thread, f"{scheme}://{shown}:{sock.getsockname()[1]}")
    try:
        if not server.started:
            raise WebhookError("the webhook receiver did not start in time")
        yield running
    finally:
        running.stop()
        sock.close()
