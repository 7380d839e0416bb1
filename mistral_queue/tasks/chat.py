"""Chat jobs: one ``POST /v1/chat/completions`` with retries; ``result`` is Mistral's response.

With ``"stream": true`` the worker streams from Mistral and appends ``job.delta`` events as
tokens arrive; ``result`` is still the whole assembled completion.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from mistral_queue.broker.names import RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.model import JobType
from mistral_queue.mistral.client import get_client
from mistral_queue.tasks.base import JobRun, run_job
from mistral_queue.tasks.chat_stream import Coalescer, assemble

CHAT_PATH = "/v1/chat/completions"


def _stream(run: JobRun, attempt: int) -> dict[str, Any]:
    settings = run.rt.settings

    def emit(index: int, text: str) -> None:
        # Fails with JobStopped once the job is cancelled, which closes the upstream stream.
        run.apply(changes.delta(index, text, attempt))

    coalescer = Coalescer(emit, settings.delta_interval_ms / 1000, settings.delta_max_chars)
    client = get_client(settings)
    return assemble(
        client.stream(CHAT_PATH, run.request, request_id=run.request_id(attempt)), coalescer
    )


def complete(run: JobRun) -> dict[str, Any]:
    """Call the chat completions endpoint (with retries) and return the completion."""
    if run.request.get("stream"):
        return run.call(lambda n: _stream(run, n))
    client = get_client(run.rt.settings)
    body = run.request
    response = run.call(lambda n: client.chat_complete(body, request_id=run.request_id(n)))
    return response.json


@shared_task(bind=True, name=RUN_TASKS[JobType.CHAT], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Run the chat job ``job_id`` (the task's only argument, so Flower shows no prompt)."""
    run_job(self, job_id, complete)
