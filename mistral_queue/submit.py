"""The client side of ``mistral-queue submit``: build a job body, post it, follow it.

It talks to the API through ``mistral_queue_client``, the same client users install.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from mistral_queue_client import Client, ClientError, Job
from rich.console import Console

from mistral_queue.errors import MistralQueueError


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


def post_job(client: Client, body: dict[str, Any]) -> Job:
    """POST the job (``body`` as ``build_body`` makes it); returns the accepted job.

    Raises:
        SubmitError: the API refused it or could not be reached.
    """
    fields = {k: v for k, v in body.items() if k not in ("type", "request")}
    try:
        return client.jobs.create(body["type"], body["request"], **fields)
    except ClientError as exc:
        raise SubmitError(str(exc)) from None
    except TypeError as exc:
        raise SubmitError(f"not a job body: {exc}") from None


def follow(client: Client, job_id: str, *, timeout: float, console: Console) -> Job:
    """Poll the job with a live status line until it ends or ``timeout`` seconds pass.

    Raises:
        SubmitError: the job did not end in time, or the API could not be reached.
    """
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    with console.status(f"{job_id}: queued") as status:
        while time.monotonic() < deadline:
            try:
                job = client.jobs.get(job_id)
            except ClientError as exc:
                raise SubmitError(str(exc)) from None
            elapsed = time.monotonic() - started
            status.update(
                f"{job_id}: [bold]{job.status}[/bold] · attempts {job.attempts} · "
                f"callback {job.callback.status or '-'} · {elapsed:.1f} s"
            )
            if job.is_final:
                console.print(f"{job_id} {job.status} after {elapsed:.2f} s")
                return job
            time.sleep(0.25)
    raise SubmitError(f"{job_id} did not finish within {timeout} s")
