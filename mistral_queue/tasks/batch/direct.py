"""Mode ``direct``: each request of the batch is one call to its endpoint, from request tasks.

The run publishes ``batch.request`` tasks for CHUNK consecutive requests each (recording how
far it got, so a crash mid-way resumes there). A request task calls upstream for each of its
requests in turn, through the retry policy and the deployment's rate limiter; a request whose
next attempt is far off goes back to Celery alone, as a countdown task carrying its attempt
count, while the task goes on with the others. Each result is stored and counted in one
atomic step that ignores a second result for the same request, and the task that stores the
last result finishes the job; the job's ``succeeded`` transition only happens once, so the
callback fires once.

A request task that dies is found by the sweep: a batch whose results stop coming in is
published again, and the run then re-publishes the requests that have no result, are not
being called (no live request lease) and are not waiting for a deferred retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import orjson
from celery import Task

from mistral_queue.broker import dispatch
from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.batchstate import PAGE, BatchState, Recorded, request_line
from mistral_queue.mistral.client import get_client
from mistral_queue.mistral.errors import DeferRetry, RateLimitWait, UpstreamError
from mistral_queue.tasks.attempt import CallLimit
from mistral_queue.tasks.base import JobRun, JobStopped
from mistral_queue.tasks.batch import outcome
from mistral_queue.tasks.batch.errors import Handled
from mistral_queue.tasks.batch.upstream import download_lines
from mistral_queue.tasks.metering import CallMeter
from mistral_queue.tasks.runtime import runtime

log = logging.getLogger(__name__)

#: Requests per request task: fewer messages and task runs, still many calls in parallel.
CHUNK = 10

#: Seconds between two ``job.progress`` events of one batch from one worker process.
PROGRESS_INTERVAL = 0.25


class _Throttle:
    """Lets through one event per job and interval from this process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready(self, job_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(job_id, float("-inf")) < self.interval:
                return False
            if len(self._last) > 1000:
                # Finished batches' entries are useless: start afresh rather than grow.
                self._last.clear()
            self._last[job_id] = now
            return True


_progress = _Throttle(PROGRESS_INTERVAL)


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
    total = int(info.get(fields.BATCH_TOTAL, 0))
    dispatched = int(info.get(fields.BATCH_DISPATCHED, 0))
    if dispatched < total:
        _dispatch(run, state, list(range(dispatched, total)), track=True)
    else:
        _recover(run, state, total)
    info = state.get()
    if int(info.get(fields.BATCH_SUCCEEDED, 0)) + int(info.get(fields.BATCH_FAILED, 0)) >= total:
        outcome.succeed(run.task, run.rt, state)
        raise Handled("every request has its result")
    outcome.watch(run, time.time() + outcome.margin(run.rt))
    raise Handled(f"{total} request(s) published")


def _send(task: Task[Any, Any], job_id: str, positions: list[int], attempts: int = 0,
          countdown: float | None = None, producer: Any = None) -> None:  # fmt: skip
    dispatch.request_positions(task.app, job_id, positions, attempts, countdown, producer)


def _dispatch(run: JobRun, state: BatchState, positions: list[int], track: bool) -> None:
    with run.task.app.producer_or_acquire() as producer:
        for begin in range(0, len(positions), PAGE):
            page = positions[begin : begin + PAGE]
            for first in range(0, len(page), CHUNK):
                _send(run.task, run.job_id, page[first : first + CHUNK], producer=producer)
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
            pipe.exists(keys.job_lease(keys.batch_request_lease(run.job_id, position)))
        lost += [pos for pos, held in zip(page, pipe.execute(), strict=True) if not held]
    if lost:
        log.warning("job %s: publishing %d lost request(s) again", run.job_id, len(lost))
        _dispatch(run, state, lost, track=False)


class _Later(Exception):
    """A request must wait ``delay`` seconds; ``alone`` unless the rate limiter said so."""

    def __init__(self, delay: float, attempts: int, alone: bool) -> None:
        super().__init__(f"retry in {delay:.1f} s")
        self.delay = delay
        self.attempts = attempts
        self.alone = alone


def call_some(task: Task[Any, Any], job_id: str, positions: Sequence[int], attempts: int) -> None:
    """Call upstream for the requests at ``positions`` of a direct batch, recording each result.

    ``attempts`` were already made for the first of them (a deferred retry). A request whose
    next attempt is far off is published again alone with a countdown; when the rate limiter
    has no slot soon, the rest of the chunk is.
    """
    rt = runtime()
    record = rt.store.get(job_id)
    if record is None or record.is_final:
        return
    run = JobRun(task, rt, record)
    state = outcome.batch_state(rt, job_id)
    for index, position in enumerate(positions):
        try:
            recorded = _one(run, state, position, attempts if index == 0 else 0)
        except _Later as later:
            rest = [position] if later.alone else list(positions[index:])
            _defer(run, state, rest, later)
            if not later.alone:
                return
            continue
        if recorded is not None and recorded.new:
            _after(run, state, recorded)


def _one(run: JobRun, state: BatchState, position: int, attempts: int) -> Recorded | None:
    """Call one request under its lease and record its result (None: nothing to do)."""
    with run.rt.leases.hold(keys.batch_request_lease(run.job_id, position)) as held:
        line = state.pending_input(position) if held else None
        if line is None:
            return None
        result, ok = _call(run, position, line, attempts)
        watch = time.time() + outcome.margin(run.rt)
        return state.record(position, orjson.dumps(result), ok, watch)


def _body(request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The line's body with the batch's model (or agent) unless the line names its own."""
    key = "agent_id" if request["endpoint"] == "/v1/agents/completions" else "model"
    return {key: request[key], **body}


def _call(run: JobRun, position: int, line: str, attempts: int) -> tuple[dict[str, Any], bool]:
    """``(result line, succeeded)`` of one request; raises _Later for a far-off retry."""
    rt = run.rt
    custom_id, body = request_line(line, position)
    body = _body(run.request, body)
    endpoint = run.request["endpoint"]
    model = str(body.get("model") or f"agent:{body.get('agent_id')}")
    limit = CallLimit(rt.limiter, model, body, CallMeter.of(run.rt, run.job_id, run.tenant, model))
    client = get_client(rt.settings)
    made = attempts

    def before(number: int) -> None:
        nonlocal made
        # The slot comes first, so waiting for it does not use up an attempt.
        limit.acquire()
        made = number

    def attempt(number: int) -> Any:
        return client.post(endpoint, body, request_id=f"{run.job_id}:{position}:{number}")

    try:
        response = rt.policy.call(limit.wrap(attempt), attempts_done=attempts, on_attempt=before)
    except DeferRetry as exc:
        raise _Later(exc.delay, exc.attempt, alone=True) from None
    except RateLimitWait as exc:
        raise _Later(exc.delay, made, alone=False) from None
    except UpstreamError as exc:
        return {"custom_id": custom_id, "error": exc.to_dict()}, False
    answer = {"status_code": response.status_code, "body": response.json}
    return {"custom_id": custom_id, "response": answer}, True


def _defer(run: JobRun, state: BatchState, positions: list[int], later: _Later) -> None:
    now = time.time()
    state.defer(positions, now + later.delay, now + later.delay + outcome.margin(run.rt))
    log.info("job %s: request(s) %s retry in %.1f s", run.job_id, positions, later.delay)
    _send(run.task, run.job_id, positions, later.attempts, countdown=later.delay)


def _after(run: JobRun, state: BatchState, recorded: Recorded) -> None:
    """Finish the batch after its last result; else emit progress now and then."""
    if recorded.complete:
        outcome.succeed(run.task, run.rt, state)
        return
    if not _progress.ready(run.job_id):
        return
    counters = {
        "total": recorded.total,
        "succeeded": recorded.succeeded,
        "failed": recorded.failed,
    }
    try:
        outcome.report(run, outcome.progress_of(run, counters))
    except JobStopped:
        log.info("job %s ended while its requests ran", run.job_id)
