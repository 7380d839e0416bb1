"""What the agent job tests share: a local tool server and small clients of the emulator and API.

Tool calls come from the emulator's deterministic rules (``emulator.agent_engine``): a turn
calls the first function tool while no function result was given yet (or the tools its text
names), and answers a function result with ``"The <name> tool returned: <result>"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
from standardwebhooks import Webhook

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, Captured, serve_http, wait_for

MODEL = "mistral-small-latest"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_user",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
    },
}


@dataclass
class ToolServer:
    """A local tool endpoint: answers ``statuses`` first (one per call), then 200 + ``answer``."""

    url: str
    answer: bytes
    statuses: list[int] = field(default_factory=list)
    received: list[Captured] = field(default_factory=list)
    #: Called with each request's JSON payload before answering.
    on_call: Callable[[dict[str, Any]], None] | None = None


@contextmanager
def tool_server(answer: str, statuses: list[int] | None = None) -> Iterator[ToolServer]:
    """Serve a ToolServer on a free 127.0.0.1 port (an allow-listed host of the stack)."""
    state = ToolServer(url="", answer=answer.encode(), statuses=list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.received.append(Captured(self.path, dict(self.headers.items()), body))
            if state.on_call is not None:
                state.on_call(json.loads(body))
            status = state.statuses.pop(0) if state.statuses else 200
            reply = state.answer if status == 200 else b"busy"
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Handler) as base:
        state.url = base + "/tools/weather"
        yield state


def emulator(stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator directly (agents, conversation history, faults)."""
    response = httpx.request(
        method,
        f"{stack.emulator.url}{path}",
        json=body,
        headers={"Authorization": "Bearer emulator-key"},
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def create_agent(stack: LocalStack, name: str, **fields: Any) -> str:
    """Create an agent in the emulator and return its id."""
    agent = emulator(stack, "POST", "/v1/agents", {"model": MODEL, "name": name, **fields})
    return str(agent["id"])


def agent_job(request: dict[str, Any], callback_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "agent", "request": request}
    if callback_url:
        body["callback_url"] = callback_url
    return body


def post_results(api: Api, job_id: str, results: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/jobs/{job_id}/tool-results", json=results, headers=api.headers()
    )


def wait_status(api: Api, job_id: str, status: str) -> dict[str, Any]:
    return wait_for(
        lambda: (job := api.job(job_id))["status"] == status and job, 30, f"status {status}"
    )


def payloads(receiver_for_job: list[Captured], secret: str) -> list[dict[str, Any]]:
    """Every callback of a job, verified with the Standard Webhooks library."""
    return [Webhook(secret).verify(c.body, c.headers) for c in receiver_for_job]


def weather_job(url: str, text: str = "Weather? city=Paris", **extra: Any) -> dict[str, Any]:
    """A model conversation whose get_weather tool is an HTTP tool at ``url``."""
    return agent_job({"model": MODEL, "inputs": text, "tools": [{**WEATHER, "url": url}], **extra})
