"""Embeddings jobs: ``input`` split into ``/v1/embeddings`` calls within the per-call limits.

A call takes at most ``embeddings_inputs_per_request`` texts and, estimated at
``CHARS_PER_TOKEN`` characters a token, ``embeddings_tokens_per_request`` tokens (one text
longer than that goes alone: Mistral then answers for it). Each call has the retry policy
and the rate limiter; its vectors become result lines ``{"index", "embedding"}`` (the index
in the job's ``input``) and a ``job.progress`` event counts them. ``result`` is a summary:
``{"object": "list", "model", "count", "requests", "usage", "results_url"}``.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Task, shared_task

from mistral_queue.broker.names import RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.model import JobType
from mistral_queue.mistral.errors import InvalidResponse
from mistral_queue.mistral.limiter import CHARS_PER_TOKEN
from mistral_queue.tasks.base import JobRun, run_job
from mistral_queue.tasks.batch.outcome import results_url
from mistral_queue.tasks.endpoints import call_once
from mistral_queue.tasks.result_lines import ATTEMPTS, ResultLines

PATH = "/v1/embeddings"


def spans(texts: list[str], max_inputs: int, max_tokens: int) -> list[tuple[int, int]]:
    """``[(start, end)]`` ranges of ``texts`` for one call each, in order."""
    ranges: list[tuple[int, int]] = []
    start, tokens = 0, 0
    for index, text in enumerate(texts):
        cost = max(1, math.ceil(len(text) / CHARS_PER_TOKEN))
        if index > start and (index - start >= max_inputs or tokens + cost > max_tokens):
            ranges.append((start, index))
            start, tokens = index, 0
        tokens += cost
    if start < len(texts):
        ranges.append((start, len(texts)))
    return ranges


def embed(run: JobRun) -> dict[str, Any]:
    """Make the job's calls (skipping those a previous run recorded); return the summary."""
    settings = run.rt.settings
    body = run.request
    raw = body["input"]
    texts = [raw] if isinstance(raw, str) else list(raw)
    ranges = spans(
        texts, settings.embeddings_inputs_per_request, settings.embeddings_tokens_per_request
    )
    lines = ResultLines(run.rt, run.job_id)
    done, usage = lines.done()
    for start, end in ranges:
        if end <= done:
            continue
        part = {**body, "input": texts[start:end]}
        before = usage.pop(ATTEMPTS, 0)
        answer = call_once(run, PATH, part, before)
        vectors = _vectors(answer, start, end)
        spent = {k: int(v) for k, v in (answer.get("usage") or {}).items() if isinstance(v, int)}
        made = run.rt.store.attempts(run.job_id) - before
        lines.add(vectors, done=end, counters={**spent, ATTEMPTS: made})
        spent[ATTEMPTS] = before + made
        usage = {k: usage.get(k, 0) + spent.get(k, 0) for k in usage.keys() | spent.keys()}
        progress = {"total": len(texts), "embedded": end, "requests": len(ranges)}
        run.apply(changes.progress(progress))
    lines.keep_for_retention()
    usage.pop(ATTEMPTS, None)
    return {
        "object": "list",
        "model": body["model"],
        "count": len(texts),
        "requests": len(ranges),
        "usage": usage,
        "results_url": results_url(run.job_id),
    }


def _vectors(answer: dict[str, Any], start: int, end: int) -> list[dict[str, Any]]:
    """The result lines of one call, in input order.

    Raises:
        InvalidResponse: the answer has not one vector per input.
    """
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != end - start:
        raise InvalidResponse(f"expected {end - start} embeddings", body=answer)
    ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
    return [{"index": start + i, "embedding": item["embedding"]} for i, item in enumerate(ordered)]


@shared_task(bind=True, name=RUN_TASKS[JobType.EMBEDDINGS], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Run the embeddings job ``job_id``."""
    run_job(self, job_id, embed)
