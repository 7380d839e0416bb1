"""Jobs of one call: moderation, classification and FIM (± stream); ``result`` is Mistral's
answer as it came.

Moderation goes to ``/v1/moderations`` for text ``input`` and ``/v1/chat/moderations`` for
messages; classification likewise to ``/v1/classifications`` or ``/v1/chat/classifications``.
A FIM job with ``"stream": true`` streams ``/v1/fim/completions`` (chat's stream format) and
appends ``job.delta`` events as tokens arrive; ``result`` is the assembled completion.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from mistral_queue.broker.names import RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.model import JobType
from mistral_queue.mistral.client import UpstreamResponse, get_client
from mistral_queue.tasks.base import JobRun, run_job
from mistral_queue.tasks.chat_stream import Coalescer, assemble

FIM_PATH = "/v1/fim/completions"


def is_text_input(request: dict[str, Any]) -> bool:
    """Whether a moderation/classification ``input`` is text (else it is conversations)."""
    value = request.get("input")
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    )


def call_once(
    run: JobRun, path: str, body: dict[str, Any], attempts_before: int = 0
) -> dict[str, Any]:
    """POST ``body`` to ``path`` with the retry policy and the limiter; return the JSON answer.

    ``attempts_before`` (attempts the job's finished calls made) do not count against this
    call's ``max_attempts``.
    """
    client = get_client(run.rt.settings)

    def attempt(number: int) -> UpstreamResponse:
        return client.post(path, body, request_id=run.request_id(number))

    return run.call(attempt, body, attempts_before=attempts_before).json


def post_once(run: JobRun, path: str) -> dict[str, Any]:
    """POST the job's own body to ``path`` with retries; return the JSON answer."""
    return call_once(run, path, run.request)


def moderate(run: JobRun) -> dict[str, Any]:
    """A moderation job's call."""
    text = is_text_input(run.request)
    return post_once(run, "/v1/moderations" if text else "/v1/chat/moderations")


def classify(run: JobRun) -> dict[str, Any]:
    """A classification job's call."""
    text = is_text_input(run.request)
    return post_once(run, "/v1/classifications" if text else "/v1/chat/classifications")


def fill(run: JobRun) -> dict[str, Any]:
    """A FIM job's call, streamed into ``job.delta`` events when the body asks."""
    if not run.request.get("stream"):
        return post_once(run, FIM_PATH)
    settings = run.rt.settings
    client = get_client(settings)

    def attempt(number: int) -> dict[str, Any]:
        def emit(index: int, text: str) -> None:
            run.apply(changes.delta(index, text, number))

        coalescer = Coalescer(emit, settings.delta_interval_ms / 1000, settings.delta_max_chars)
        events = client.stream(FIM_PATH, run.request, request_id=run.request_id(number))
        return assemble(events, coalescer)

    return run.call(attempt)


@shared_task(bind=True, name=RUN_TASKS[JobType.MODERATION], max_retries=None)
def run_moderation(self: Task[Any, Any], job_id: str) -> None:
    """Run the moderation job ``job_id``."""
    run_job(self, job_id, moderate)


@shared_task(bind=True, name=RUN_TASKS[JobType.CLASSIFICATION], max_retries=None)
def run_classification(self: Task[Any, Any], job_id: str) -> None:
    """Run the classification job ``job_id``."""
    run_job(self, job_id, classify)


@shared_task(bind=True, name=RUN_TASKS[JobType.FIM], max_retries=None)
def run_fim(self: Task[Any, Any], job_id: str) -> None:
    """Run the FIM job ``job_id``."""
    run_job(self, job_id, fill)
