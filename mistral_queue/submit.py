"""The client side of ``mistral-queue submit``: build a job body, post it, follow it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from mistral_queue.errors import MistralQueueError

#: Job statuses after which nothing changes.
FINAL = {"succeeded", "failed", "cancelled"}


class SubmitError(MistralQueueError):
    """Raised when the API refuses a job or cannot be reached; the message is the API's own."""


def build_body(
    file: Path | None, *, model: str, message: str | None, callback_url: str | None
) -> dict[str, Any]:
    """A job body from a JSON file (a whole job, or a bare Mistral chat request) or a message.

    Raises:
        SubmitError: neither a file nor a message was given, or the file is not JSON.
    """
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SubmitError(f"{file} is not JSON: {exc}") from None
        body: dict[str, Any] = loaded if "type" in loaded else {"type": "chat", "request": loaded}
    elif message is not None:
        request = {"model": model, "messages": [{"role": "user", "content": message}]}
        body = {"type": "chat", "request": request}
    else:
        raise SubmitError("give a JSON file or --message")
    if callback_url:
        body["callback_url"] = callback_url
    return body


def api_call(method: str, url: str, key: str, body: Any = None) -> dict[str, Any]:
    """One authenticated JSON request to the API; returns the JSON answer ({} when empty).

    Raises:
        SubmitError: the API is unreachable or answers 4xx/5xx (with its error message).
    """
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise SubmitError(f"cannot reach {url}: {exc}") from None
    data: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        error = data.get("error", {})
        raise SubmitError(f"HTTP {response.status_code}: {error.get('message', response.text)}")
    return data


def post_job(api_url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST the job; returns the accepted job."""
    return api_call("POST", f"{api_url.rstrip('/')}/v1/jobs", key, body)


def follow(
    api_url: str, key: str, job_id: str, *, timeout: float, console: Console
) -> dict[str, Any]:
    """Poll the job with a live status line until it ends or ``timeout`` seconds pass.

    Raises:
        SubmitError: the job did not end in time.
    """
    url = f"{api_url.rstrip('/')}/v1/jobs/{job_id}"
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    with console.status(f"{job_id}: queued") as status:
        while time.monotonic() < deadline:
            job = api_call("GET", url, key)
            elapsed = time.monotonic() - started
            status.update(
                f"{job_id}: [bold]{job['status']}[/bold] · attempts {job['attempts']} · "
                f"callback {job['callback'].get('status') or '-'} · {elapsed:.1f} s"
            )
            if job["status"] in FINAL:
                console.print(f"{job_id} {job['status']} after {elapsed:.2f} s")
                return job
            time.sleep(0.25)
    raise SubmitError(f"{job_id} did not finish within {timeout} s")
