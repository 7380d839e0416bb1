"""Chat jobs: one ``POST /v1/chat/completions`` with retries; ``result`` is Mistral's response."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from mistral_queue.jobs.model import JobType
from mistral_queue.jobs.routing import RUN_TASKS
from mistral_queue.mistral.client import get_client
from mistral_queue.tasks.base import JobRun, run_job


def complete(run: JobRun) -> dict[str, Any]:
    """Call the chat completions endpoint once (with retries) and return its JSON body."""
    client = get_client(run.rt.settings)
    body = run.request
    response = run.call(lambda n: client.chat_complete(body, request_id=run.request_id(n)))
    return response.json


@shared_task(bind=True, name=RUN_TASKS[JobType.CHAT], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Run the chat job ``job_id`` (the task's only argument, so Flower shows no prompt)."""
    run_job(self, job_id, complete)
