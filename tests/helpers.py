"""Small clients the integration tests share: the intake API, the emulator log, the event log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import redis

from mistral_queue.dev.processes import Stack, cli, free_port, start_http
from mistral_queue.jobs import keys

T = TypeVar("T")
FINAL = {"succeeded", "failed", "cancelled"}


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Api:
    """The intake API over real HTTP, as one tenant."""

    url: str
    key: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def post(self, body: Any, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/jobs", json=body, headers=self.headers(**headers))

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(body)
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        return job

    def get(self, job_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/v1/jobs/{job_id}", headers=self.headers())

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(job_id)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def wait_final(
        self, job_id: str, timeout: float = 30.0, callback: bool = True
    ) -> dict[str, Any]:
        """The job once it is final (and, with ``callback``, its callback settled)."""

        def done() -> dict[str, Any] | None:
            job = self.job(job_id)
            settled = not callback or job["callback"]["status"] in ("delivered", "failed")
            return job if job["status"] in FINAL and settled else None

        return wait_for(done, timeout, f"job {job_id} to end")


def chat_body(text: str, callback_url: str | None = None, **request: Any) -> dict[str, Any]:
    """A chat job body with one user message."""
    body: dict[str, Any] = {
        "type": "chat",
        "request": {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": text}],
            **request,
        },
    }
    if callback_url:
        body["callback_url"] = callback_url
    return body


def events(client: redis.Redis, job_id: str) -> list[dict[str, Any]]:
    """The job's event log as ``[{"id", "type", "data"}]``."""
    entries: Any = client.xrange(keys.job_events(job_id))
    return [
        {"id": eid, "type": fields["type"], "data": json.loads(fields["data"])}
        for eid, fields in entries
    ]


def emulator_calls(emulator_url: str, job_id: str) -> list[dict[str, Any]]:
    """The emulator's log entries whose X-Request-ID names ``job_id``."""
    entries = httpx.get(f"{emulator_url}/_emulator/requests").json()["data"]
    return [e for e in entries if (e.get("request_id") or "").startswith(job_id + ":")]


@dataclass
class Captured:
    """One POST the raw receiver got: exact body bytes and headers."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawReceiver:
    """A plain http.server receiver that keeps the exact bytes (independent of our code)."""

    url: str
    received: list[Captured] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    #: Headers sent with every answer that is not 2xx (e.g. ``Retry-After``).
    failure_headers: dict[str, str] = field(default_factory=dict)

    def for_job(self, job_id: str) -> list[Captured]:
        return [c for c in self.received if json.loads(c.body)["data"]["id"] == job_id]


@contextmanager
def raw_receiver() -> Iterator[RawReceiver]:
    """Serve a RawReceiver on a free 127.0.0.1 port; ``statuses`` scripts its answers."""
    state = RawReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            state.received.append(Captured(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            if not 200 <= status < 300:
                for name, value in state.failure_headers.items():
                    self.send_header(name, value)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Handler) as base:
        state.url = base + "/hook"
        yield state


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free 127.0.0.1 port in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def api_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The ``error`` object of an API error response, checking its status and shape."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"type", "message", "details"}
    return error


@contextmanager
def extra_api(env: dict[str, str], name: str, key: str = "key-acme") -> Iterator[Api]:
    """Another API process with its own settings ``env`` (e.g. a stack's env plus overrides)."""
    local = Stack()
    port = free_port()
    try:
        start_http(local, name, cli("api", "--port", str(port)), env, port)
        yield Api(f"http://127.0.0.1:{port}", key)
    finally:
        local.stop_all()
