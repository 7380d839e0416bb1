"""Mode ``direct``: each request of the batch is one call to its endpoint, in its own task.

The run publishes one ``batch.request`` task per request (recording how far it got, so a
crash mid-way resumes there). Each request task calls upstream through the retry policy and
the deployment's rate limiter, with its own attempt count; a long wait goes back to Celery
as a countdown. Its result is stored and counted in one atomic step that ignores a second
result for the same request, and the task that stores the last result finishes the job; the
job's ``succeeded`` transition only happens once, so the callback fires once.

A request task that dies is found by the sweep: a batch whose results stop coming in is
published again, and the run then re-publishes the requests that have no result, are not
being called (no live request lease) and are not waiting for a deferred retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn

import orjson
from celery import Task

from mistral_queue.jobs import batchkeys, keys
from mistral_queue.jobs.batchstate import PAGE, BatchState, Recorded, request_line
from mistral_queue.jobs.routing import BATCH_REQUEST, BATCH_REQUESTS_QUEUE
from mistral_queue.mistral.client import get_client
from mistral_queue.mistral.errors import DeferRetry, RateLimitWait, UpstreamError
from mistral_queue.tasks.base import JobRun, JobStopped
from mistral_queue.tasks.batch import outcome
from mistral_queue.tasks.batch.errors import Handled
from mistral_queue.tasks.batch.upstream import download_lines
from mistral_queue.tasks.runtime import runtime
from mistral_queue.tasks.throttle import CallLimit

log = logging.getLogger(__name__)

#: Milliseconds between two ``job.progress`` events of one direct batch.
PROGRESS_INTERVAL_MS = 250


def start(run: JobRun, state: BatchState) -> NoReturn:
    """Publish the requests not published yet, or (resuming) the ones that got lost.

    Raises:
        Handled: always, once the requests are out (or the batch is finished).
    """
    file_id = run.request.get("input_file")
    info = state.get()
    if file_id and info.get("loaded") != "1":
        total = state.load(download_lines(run.rt, file_id, run.job_id), keep_bodies=True)
        state.put(total=total, loaded=1)
        info = state.get()
    total = int(info.get("total", 0))
    dispatched = int(info.get("dispatched", 0))
    if dispatched < total:
        _dispatch(run, state, range(dispatched, total), track=True)
    else:
        _recover(run, state, total)
    info = state.get()
    if int(info.get("succeeded", 0)) + int(info.get("failed", 0)) >= total:
        outcome.succeed(run.task, run.rt, state)
        raise Handled("every request has its result")
    outcome.watch(run, time.time() + outcome.margin(run.rt))
    raise Handled(f"{total} request(s) published")


def _dispatch(run: JobRun, state: BatchState, positions: range | list[int], track: bool) -> None:
    app = run.task.app
    todo = list(positions) if isinstance(positions, list) else positions
    with app.producer_or_acquire() as producer:
        for begin in range(0, len(todo), PAGE):
            page = todo[begin : begin + PAGE]
            for position in page:
                app.send_task(BATCH_REQUEST, args=[run.job_id, position], producer=producer,
                              queue=BATCH_REQUESTS_QUEUE, add_to_parent=False)  # fmt: skip
            if track:
                state.put(dispatched=page[-1] + 1)


def _recover(run: JobRun, state: BatchState, total: int) -> None:
    """Publish again the requests with no result, no live lease and no retry scheduled."""
    waiting = state.waiting(time.time())
    lost: list[int] = []
    candidates = [pos for pos in state.missing(total) if pos not in waiting]
    for begin in range(0, len(candidates), PAGE):
        page = candidates[begin : begin + PAGE]
        pipe = run.rt.redis.pipeline(transaction=False)
        for position in page:
            pipe.exists(keys.job_lease(batchkeys.request_lease(run.job_id, position)))
        lost += [pos for pos, held in zip(page, pipe.execute(), strict=True) if not held]
    if lost:
        log.warning("job %s: publishing %d lost request(s) again", run.job_id, len(lost))
        _dispatch(run, state, lost, track=False)


def call_one(task: Task[Any, Any], job_id: str, position: int) -> None:
    """Call upstream for the request at ``position`` of a direct batch and record its result.

    Raises:
        celery.exceptions.Retry: the next attempt (or rate-limit slot) is further off than an
            inline wait; the task comes back after the countdown.
    """
    rt = runtime()
    record = rt.store.get(job_id)
    if record is None or record.is_final:
        return
    run = JobRun(task, rt, record)
    state = outcome.batch_state(rt, job_id)
    with rt.leases.hold(batchkeys.request_lease(job_id, position)) as held:
        line = state.input(position) if held else None
        if line is None or rt.redis.hexists(batchkeys.results(job_id), str(position)):
            return
        result, ok = _call(run, state, position, line)
        watch = time.time() + outcome.margin(rt)
        recorded = state.record(position, orjson.dumps(result), ok, watch)
    if recorded.new:
        _after(run, state, recorded)


def _body(request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The line's body with the batch's model (or agent) unless the line names its own."""
    key = "agent_id" if request["endpoint"] == "/v1/agents/completions" else "model"
    return {key: request[key], **body}


def _call(run: JobRun, state: BatchState, position: int, line: str) -> tuple[dict[str, Any], bool]:
    rt = run.rt
    custom_id, body = request_line(line, position)
    body = _body(run.request, body)
    endpoint = run.request["endpoint"]
    limit = CallLimit(rt.limiter, str(body.get("model") or f"agent:{body.get('agent_id')}"), body)
    client = get_client(rt.settings)

    def before(number: int) -> None:
        # The slot comes first, so waiting for it does not use up an attempt.
        limit.acquire()
        state.count_attempt(position)

    def attempt(number: int) -> Any:
        return client.post(endpoint, body, request_id=f"{run.job_id}:{position}:{number}")

    try:
        response = rt.policy.call(limit.wrap(attempt), attempts_done=state.attempts(position),
                                  on_attempt=before)  # fmt: skip
    except (DeferRetry, RateLimitWait) as exc:
        _defer(run, state, position, exc.delay)
    except UpstreamError as exc:
        return {"custom_id": custom_id, "error": exc.to_dict()}, False
    answer = {"status_code": response.status_code, "body": response.json}
    return {"custom_id": custom_id, "response": answer}, True


def _defer(run: JobRun, state: BatchState, position: int, delay: float) -> NoReturn:
    now = time.time()
    state.defer(position, now + delay, now + delay + outcome.margin(run.rt))
    log.info("job %s request %d retries in %.1f s", run.job_id, position, delay)
    raise run.task.retry(countdown=delay, max_retries=None)


def _after(run: JobRun, state: BatchState, recorded: Recorded) -> None:
    """Finish the batch after its last result; else emit progress, at most every interval."""
    total = state.total()
    if recorded.succeeded + recorded.failed >= total:
        outcome.succeed(run.task, run.rt, state)
        return
    tick = batchkeys.progress_tick(run.job_id)
    if not run.rt.redis.set(tick, "1", nx=True, px=PROGRESS_INTERVAL_MS):
        return
    counters = {"total": total, "succeeded": recorded.succeeded, "failed": recorded.failed}
    try:
        outcome.report(run, outcome.progress_of(run, counters))
    except JobStopped:
        log.info("job %s ended while its requests ran", run.job_id)
