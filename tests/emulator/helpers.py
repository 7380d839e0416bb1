"""Helpers shared by the emulator tests."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from mistral_queue.dev.emulator.server import RunningEmulator

API_KEY = "test-key"


def http_client(emulator: RunningEmulator, key: str = API_KEY) -> httpx.Client:
    """An httpx client with a bearer key and a 10 s deadline on every call."""
    return httpx.Client(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10.0,
    )


def chat_body(text: str = "Hello, world!", **extra: Any) -> dict[str, Any]:
    """A minimal chat completion body with one user message."""
    return {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def sse_data(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of a data-only SSE body, in order."""
    return [
        line.removeprefix("data: ")
        for line in response.text.split("\n")
        if line.startswith("data: ")
    ]


def log_entries(http: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    """``GET /_emulator/requests`` with ``filters``."""
    response = http.get("/_emulator/requests", params=filters)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def create_agent(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """POST /v1/agents with defaults for model and name."""
    body = {"model": "mistral-small-latest", "name": "helper", **fields}
    response = client.post("/v1/agents", json=body)
    assert response.status_code == 200, response.text
    agent: dict[str, Any] = response.json()
    return agent


TERMINAL = {"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"}


def wait_job(client: httpx.Client, job_id: str, deadline: float = 30.0) -> list[dict[str, Any]]:
    """Poll a batch job until it is terminal; every state seen, in order (last is terminal)."""
    seen: list[dict[str, Any]] = []
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        job: dict[str, Any] = client.get(f"/v1/batch/jobs/{job_id}").json()
        seen.append(job)
        if job["status"] in TERMINAL:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"batch job {job_id} not finished after {deadline} s: {seen[-1]}")


def jsonl(lines: list[Any]) -> bytes:
    """JSON Lines bytes of ``lines`` (strings are written as they are)."""
    return b"".join(
        (line if isinstance(line, str) else json.dumps(line)).encode() + b"\n" for line in lines
    )


def chat_line(custom_id: str, text: str) -> dict[str, Any]:
    """One batch input line for ``/v1/chat/completions``."""
    return {"custom_id": custom_id, "body": {"messages": [{"role": "user", "content": text}]}}
