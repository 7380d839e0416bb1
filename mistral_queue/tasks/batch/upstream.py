"""Mode ``api``: Mistral's Batch API (DESIGN § Job kinds, mistral-api.md §1-§2).

The run uploads the requests as one JSONL file (streamed through a temporary file, so a
retry can send it again), creates the batch job and schedules its first poll. Each poll is a
short task that reschedules itself with a Celery countdown, doubling from
``batch_poll_initial_seconds`` up to ``batch_poll_max_seconds``: no worker slot waits while
Mistral works. Polls carry a sequence number; resuming (after a lost message) starts a new
sequence, so an old poll that turns up later ends instead of polling twice as often.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from celery import Celery

from mistral_queue.broker import dispatch
from mistral_queue.jobs.batchstate import PAGE, BatchState
from mistral_queue.jobs.ownership import record_file
from mistral_queue.mistral.batches import (
    JOB_METADATA_KEY,
    BatchSnapshot,
    create_body,
    iter_lines,
    result_line,
)
from mistral_queue.mistral.client import get_client
from mistral_queue.mistral.errors import DeferRetry, UpstreamError
from mistral_queue.mistral.ids import id_path
from mistral_queue.tasks.base import JobRun, JobStopped
from mistral_queue.tasks.batch import outcome
from mistral_queue.tasks.batch.errors import BatchFailed, Handled
from mistral_queue.tasks.metering import CallMeter
from mistral_queue.tasks.runtime import Runtime

log = logging.getLogger(__name__)

FILES_PATH = "/v1/files"
BATCH_JOBS_PATH = "/v1/batch/jobs"


@dataclass
class NextPoll:
    """The poll a task schedules, published once the task has let go of the job's lease."""

    delay: float | None = None
    seq: int = 0

    def publish(self, app: Celery, job_id: str) -> None:
        """Send the poll (if one was planned) with its countdown."""
        if self.delay is not None:
            dispatch.poll_batch(app, job_id, self.seq, self.delay)


def _limit_body(run: JobRun) -> dict[str, Any]:
    # Files and batch calls count as requests for the rate limiter, not as tokens.
    request = run.request
    return {k: request[k] for k in ("model", "agent_id") if request.get(k)} | {"max_tokens": 0}


def start(run: JobRun, state: BatchState, plan: NextPoll) -> NoReturn:
    """Upload, create and schedule the first poll; or, resuming, poll again at once.

    Raises:
        Handled: always, once the next poll is planned.
    """
    info = state.get()
    if "batch_id" not in info:
        _create(run, state, info)
        delay = run.rt.settings.batch_poll_initial_seconds
    else:
        delay = 0.0
    schedule(run, state.incr("poll_seq"), plan, delay)


def _create(run: JobRun, state: BatchState, info: dict[str, str]) -> None:
    request = run.request
    file_id = request.get("input_file")
    if file_id is None:
        file_id = info.get("input_file") or _upload(run, state)
    elif info.get("loaded") != "1":
        total = state.load(download_lines(run.rt, file_id, run.job_id), keep_bodies=False)
        state.put(total=total, loaded=1)
    snapshot = _adopt(run) if info.get("creating") else None
    if snapshot is None:
        state.put(creating=1, input_file=file_id)
        body = create_body(
            endpoint=request["endpoint"],
            input_file=file_id,
            job_id=run.job_id,
            model=request.get("model"),
            agent_id=request.get("agent_id"),
            metadata=request.get("metadata"),
            timeout_hours=request.get("timeout_hours"),
        )
        client = get_client(run.rt.settings)
        response = run.call(
            lambda n: client.post(BATCH_JOBS_PATH, body, request_id=run.request_id(n)),
            body=_limit_body(run),
        )
        snapshot = BatchSnapshot.from_json(response.json)
    state.put(batch_id=snapshot.id, input_file=file_id)
    try:
        outcome.report(run, _progress(run, snapshot))
    except JobStopped:
        # Cancelled while the batch job was being created: cancel that one too.
        cancel_upstream(run.rt, state)
        raise


def _upload(run: JobRun, state: BatchState) -> str:
    client = get_client(run.rt.settings)
    with tempfile.TemporaryFile() as jsonl:
        for line in state.input_lines(state.total()):
            jsonl.write(line.encode() + b"\n")

        def attempt(number: int) -> str:
            jsonl.seek(0)
            response = client.upload_file(FILES_PATH, f"{run.job_id}.jsonl", jsonl, "batch",
                                          request_id=run.request_id(number))  # fmt: skip
            return str(response.json["id"])

        file_id = run.call(attempt, body=_limit_body(run))
    # Recorded before use, so the tenant (and only it) may reuse it as an input_file.
    record_file(run.rt.redis, run.tenant, file_id)
    state.put(input_file=file_id)
    return file_id


def _adopt(run: JobRun) -> BatchSnapshot | None:
    """The batch job a crashed run created for this job, found by its metadata, if any."""
    client = get_client(run.rt.settings)
    params = {JOB_METADATA_KEY: run.job_id}
    found = run.rt.policy.call(
        lambda n: client.get(BATCH_JOBS_PATH, params, request_id=f"{run.job_id}:find:{n}")
    )
    jobs = found.json.get("data") or []
    return BatchSnapshot.from_json(jobs[0]) if jobs else None


def schedule(run: JobRun, seq: int, plan: NextPoll, delay: float) -> NoReturn:
    """Plan poll ``seq`` in ``delay`` seconds and keep the sweep off the job until after it.

    Raises:
        Handled: always.
    """
    outcome.watch(run, time.time() + delay + outcome.margin(run.rt))
    plan.delay, plan.seq = delay, seq
    raise Handled(f"next poll in {delay:.1f} s")


def _next_delay(run: JobRun, state: BatchState) -> float:
    settings = run.rt.settings
    polls = state.incr("polls")
    return min(settings.batch_poll_max_seconds,
               settings.batch_poll_initial_seconds * 2.0 ** min(polls, 30))  # fmt: skip


def poll(run: JobRun, state: BatchState, seq: int, plan: NextPoll) -> dict[str, Any]:
    """One poll: mirror the counters, plan the next poll or collect the results.

    Returns:
        The job's result (summary) when Mistral's job ended ``SUCCESS``.

    Raises:
        Handled: the next poll is planned, or a newer poll sequence runs this batch.
        BatchFailed: Mistral's job ended without success (the results so far are kept).
        UpstreamError: Mistral refused the poll, or polls failed ``max_attempts`` times in a row.
    """
    info = state.get()
    if info.get("poll_seq") != str(seq):
        raise Handled(f"poll {seq} is stale: a newer poll sequence runs this batch")
    snapshot = _fetch(run, state, info["batch_id"])
    if snapshot is not None:
        outcome.report(run, _progress(run, snapshot))
    if snapshot is None or snapshot.active:
        schedule(run, seq, plan, _next_delay(run, state))
    state.put(upstream_done=1)
    for file_id in (snapshot.output_file, snapshot.error_file):
        if file_id:
            _collect(run, state, file_id)
    state.expire(run.rt.settings.job_retention_seconds)
    if snapshot.status != "SUCCESS":
        raise BatchFailed(snapshot, outcome.results_url(run.job_id))
    return outcome.summary(run, snapshot.counters(), mistral_batch_id=snapshot.id)


def _progress(run: JobRun, snapshot: BatchSnapshot) -> dict[str, Any]:
    return outcome.progress_of(run, snapshot.counters(), mistral_batch_id=snapshot.id,
                               mistral_status=snapshot.status)  # fmt: skip


def _fetch(run: JobRun, state: BatchState, batch_id: str) -> BatchSnapshot | None:
    """The batch job now, or None after a passing failure (the next poll tries again)."""
    client = get_client(run.rt.settings)
    path = id_path(BATCH_JOBS_PATH, batch_id)
    try:
        response = run.rt.policy.call(
            lambda n: client.get(path, request_id=f"{run.job_id}:poll:{n}")
        )
    except (DeferRetry, UpstreamError) as exc:
        error = exc.error if isinstance(exc, DeferRetry) else exc
        if not error.retryable or state.incr("poll_failures") >= run.rt.settings.max_attempts:
            raise error from None
        log.warning("job %s: polling batch %s failed (%s); polling again later",
                    run.job_id, batch_id, error)  # fmt: skip
        return None
    state.put(poll_failures=0)
    return BatchSnapshot.from_json(response.json)


def download_lines(rt: Runtime, file_id: str, job_id: str) -> Iterator[bytes]:
    """The non-blank lines of a Mistral file, streamed (``GET /v1/files/{id}/content``)."""
    client = get_client(rt.settings)
    return iter_lines(client.download(id_path(FILES_PATH, file_id, "content"),
                                      request_id=f"{job_id}:download"))  # fmt: skip


def _collect(run: JobRun, state: BatchState, file_id: str) -> None:
    """Store the lines of an output or error file as results (again from the start on retry).

    The lines' ``usage`` is summed per attempt and booked once the whole file is stored, so a
    retried download does not count it twice.
    """

    def attempt(number: int) -> dict[str, int]:
        used = {"prompt_tokens": 0, "completion_tokens": 0}
        page: list[bytes] = []
        for line in download_lines(run.rt, file_id, run.job_id):
            page.append(line)
            if len(page) == PAGE:
                _store(state, page, used)
                page = []
        _store(state, page, used)
        return used

    used = run.rt.policy.call(attempt)
    model = str(run.request.get("model") or f"agent:{run.request.get('agent_id', '')}")
    CallMeter.of(run.rt, run.job_id, run.tenant, model).settle(used)


def _store(state: BatchState, lines: list[bytes], used: dict[str, int]) -> None:
    parsed = [result_line(orjson.loads(line)) for line in lines]
    positions = state.positions([str(line["custom_id"]) for line, _ in parsed])
    found = {pos: orjson.dumps(line) for pos, (line, _) in zip(positions, parsed, strict=True)
             if pos is not None}  # fmt: skip
    if len(found) < len(parsed):
        log.warning("job %s: %d output line(s) name no request of the batch",
                    state.job_id, len(parsed) - len(found))  # fmt: skip
    state.store_results(found)
    for line, _ in parsed:
        body = line.get("response", {}).get("body")
        usage = body.get("usage") if isinstance(body, dict) else None
        for name in used:
            value = usage.get(name) if isinstance(usage, dict) else None
            used[name] += int(value) if isinstance(value, int) and value > 0 else 0


def cancel_upstream(rt: Runtime, state: BatchState) -> None:
    """Cancel the job's Mistral batch job, once, unless it has ended or never existed.

    A failure is logged only: a later poll of the cancelled job tries again.
    """
    info = state.get()
    batch_id = info.get("batch_id")
    if not batch_id or info.get("upstream_done") or not state.claim("cancel_sent"):
        return
    client = get_client(rt.settings)
    path = id_path(BATCH_JOBS_PATH, batch_id, "cancel")
    try:
        rt.policy.call(lambda n: client.post(path, {}, request_id=f"{state.job_id}:cancel:{n}"))
    except (DeferRetry, UpstreamError) as exc:
        state.unclaim("cancel_sent")
        log.warning("job %s: could not cancel batch %s: %s", state.job_id, batch_id, exc)
        return
    log.info("job %s: cancelled Mistral batch job %s", state.job_id, batch_id)
