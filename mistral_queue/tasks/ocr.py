"""OCR jobs: ``POST /v1/ocr`` for a ``document_url``, ``image_url`` or uploaded ``file_id``.

A request that lists its ``pages`` (indices) is sent ``ocr_pages_per_request`` pages at a time, so
``job.progress`` reports page by page range (``{"pages_done", "pages_total", "requests"}``);
one without is a single call. Every page object Mistral returns (``{index, markdown, images,
dimensions, ...}``) is a result line of ``GET /v1/jobs/{id}/results``; ``result`` is the
``OCRResponse`` without its pages: ``{"model", "pages", "usage_info", "document_annotation",
"results_url"}``.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from mistral_queue.broker.names import RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.model import JobType
from mistral_queue.mistral.errors import InvalidResponse
from mistral_queue.tasks.base import JobRun, run_job
from mistral_queue.tasks.batch.outcome import results_url
from mistral_queue.tasks.endpoints import call_once
from mistral_queue.tasks.result_lines import ATTEMPTS, ResultLines

PATH = "/v1/ocr"


def process(run: JobRun) -> dict[str, Any]:
    """Make the job's calls (skipping those a previous run recorded); return the summary."""
    body = run.request
    listed = body.get("pages")
    # Range text ("0-3,7") is Mistral's to read: one call, like no pages at all.
    pages: list[int] | None = listed if isinstance(listed, list) else None
    size = run.rt.settings.ocr_pages_per_request
    groups: list[list[int] | None] = (
        [pages[i : i + size] for i in range(0, len(pages), size)] if pages else [None]
    )
    lines = ResultLines(run.rt, run.job_id)
    done, counters = lines.done()
    annotation = None
    for number, group in enumerate(groups):
        if number < done:
            continue
        part = body if group is None else {**body, "pages": group}
        before = counters.get(ATTEMPTS, 0)
        answer = call_once(run, PATH, part, before)
        found = answer.get("pages")
        if not isinstance(found, list):
            raise InvalidResponse("the OCR answer has no pages", body=answer)
        processed = int((answer.get("usage_info") or {}).get("pages_processed") or len(found))
        made = run.rt.store.attempts(run.job_id) - before
        total = lines.add(
            found, done=number + 1, counters={"pages_processed": processed, ATTEMPTS: made}
        )
        counters = {
            "pages_processed": counters.get("pages_processed", 0) + processed,
            ATTEMPTS: before + made,
        }
        annotation = answer.get("document_annotation") or annotation
        progress = {"pages_done": total, "pages_total": len(pages) if pages else total}
        run.apply(changes.progress({**progress, "requests": len(groups)}))
    lines.keep_for_retention()
    return {
        "model": body["model"],
        "pages": lines.total(),
        "usage_info": {"pages_processed": counters.get("pages_processed", 0)},
        "document_annotation": annotation,
        "results_url": results_url(run.job_id),
    }


@shared_task(bind=True, name=RUN_TASKS[JobType.OCR], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Run the OCR job ``job_id``."""
    run_job(self, job_id, process)
