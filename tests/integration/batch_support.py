"""What the batch tests share: batch bodies, results, the emulator's files and batch jobs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis

from mistral_queue.dev.stack import LocalStack
from mistral_queue.jobs.ownership import record_file
from tests.helpers import Api, events

MODEL = "mistral-small-latest"
#: The emulator takes any bearer key.
EMULATOR_AUTH = {"Authorization": "Bearer emulator-key"}


def requests_of(
    count: int, text: str = "question", marks: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """``count`` chat requests ``r0``… with distinct texts; ``marks`` appends fault markers."""
    marks = marks or {}
    return [
        {
            "custom_id": f"r{i}",
            "body": {"messages": [{"role": "user", "content": f"{text} {i}{marks.get(i, '')}"}]},
        }
        for i in range(count)
    ]


def batch_body(
    requests: list[dict[str, Any]] | None = None,
    *,
    mode: str | None = None,
    callback_url: str | None = None,
    **request: Any,
) -> dict[str, Any]:
    """A batch job body for the chat endpoint."""
    inner: dict[str, Any] = {"model": MODEL, **request}
    if requests is not None:
        inner["requests"] = requests
    if mode is not None:
        inner["mode"] = mode
    body: dict[str, Any] = {"type": "batch", "request": inner}
    if callback_url:
        body["callback_url"] = callback_url
    return body


def results(api: Api, job_id: str) -> list[dict[str, Any]]:
    """The job's result lines, parsed."""
    response = httpx.get(f"{api.url}/v1/jobs/{job_id}/results", headers=api.headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def emulator_batch(emulator_url: str, batch_id: str) -> dict[str, Any]:
    """The emulator's batch job ``batch_id``."""
    found: dict[str, Any] = httpx.get(
        f"{emulator_url}/v1/batch/jobs/{batch_id}", headers=EMULATOR_AUTH
    ).json()
    return found


def emulator_file_lines(emulator_url: str, file_id: str) -> list[dict[str, Any]]:
    """The JSONL lines of a file the emulator stores."""
    response = httpx.get(f"{emulator_url}/v1/files/{file_id}/content", headers=EMULATOR_AUTH)
    content = response.content
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def upload(emulator_url: str, lines: list[dict[str, Any]], purpose: str = "batch") -> str:
    """Upload ``lines`` as a JSONL file to the emulator; returns the file id."""
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    files = {"file": ("input.jsonl", content, "application/octet-stream")}
    response = httpx.post(
        f"{emulator_url}/v1/files", files=files, data={"purpose": purpose}, headers=EMULATOR_AUTH
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def upload_owned(
    stack: LocalStack, lines: list[dict[str, Any]], purpose: str = "batch", tenant: str = "acme"
) -> str:
    """Upload ``lines`` and record the file as ``tenant``'s, as a batch job of its would.

    With the shared Mistral key a tenant may name only files its own jobs uploaded.
    """
    file_id = upload(stack.emulator.url, lines, purpose)
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        record_file(client, tenant, file_id)
    finally:
        client.close()
    return file_id


def progress_events(client: redis.Redis, job_id: str) -> list[dict[str, Any]]:
    """The data of the job's ``job.progress`` events, in order."""
    return [e["data"] for e in events(client, job_id) if e["type"] == "job.progress"]
