"""The frame every job task runs in: lease, state changes, retries and the final callback.

Reliability rules (docs/guarantees.md): a delivery of a job another worker leases is dropped
and a final job never runs again; the outcome of an upstream call is the first thing recorded,
retried through a Redis outage, so an answer already received is never asked for again; a job
past its deadline fails with a callback instead of running on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded
from kombu.exceptions import OperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from mistral_queue import tracing
from mistral_queue.broker import dispatch
from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import changes
from mistral_queue.jobs.errors import InvalidTransition, JobNotFound
from mistral_queue.jobs.limits import resolve
from mistral_queue.jobs.model import JobRecord, JobStatus
from mistral_queue.mistral.errors import DeferRetry, RateLimitWait, UpstreamError
from mistral_queue.tasks import attempt
from mistral_queue.tasks.attempt import REDIS_DOWN
from mistral_queue.tasks.budget_gate import hold_back
from mistral_queue.tasks.endpoint_delivery import fan_out
from mistral_queue.tasks.runtime import Runtime, runtime
from mistral_queue.tasks.scheduling import publish_started

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobStopped(Exception):
    """Raised inside a job when it was cancelled (or finished) by someone else meanwhile."""


class JobExpired(JobStopped):
    """Raised inside a job when its deadline has passed, or would before the next attempt."""


class JobRun:
    """One run of one job by one worker thread, holding the job's lease."""

    def __init__(self, task: Task[Any, Any], rt: Runtime, record: JobRecord) -> None:
        self.task = task
        self.rt = rt
        self.record = record
        self.job_id = record.id
        self.tenant = record.tenant

    @property
    def request(self) -> dict[str, Any]:
        """The Mistral request body the caller sent."""
        return self.record.job.request

    def apply(self, change: changes.Change) -> None:
        """Apply a change to this job, turning a lost race into :class:`JobStopped`."""
        try:
            self.rt.store.apply(self.job_id, self.tenant, change)
        except (InvalidTransition, JobNotFound) as exc:
            raise JobStopped(str(exc)) from exc

    def call(
        self,
        fn: Callable[[int], T],
        body: dict[str, Any] | None = None,
        *,
        attempts_before: int = 0,
    ) -> T:
        """Run one upstream call with the retry policy and the rate limiter (``tasks.attempt``).

        Args:
            fn: one attempt; gets the job-wide attempt number (for the X-Request-ID).
            body: the request body the limiter estimates tokens from (default: the job's).
            attempts_before: attempts the job spent on earlier calls (the finished steps of
                an agent job); they do not use up this call's ``max_attempts``.

        Raises:
            DeferRetry: the next wait is long; the task gives its slot back.
            RateLimitWait: the deployment's rate limit has no slot soon; the same.
            UpstreamError: the call failed for good.
            JobStopped: the job was cancelled between attempts.
        """
        body = self.request if body is None else body
        return attempt.call(self, fn, body, attempts_before)

    def park(self, reason: str) -> None:
        """Record that the job waits for its turn (tasks/scheduling.py starts it)."""
        watch = self.watch_until(self.rt.settings.requeue_after_seconds)
        change = changes.throttled(reason=reason, delay=0.0, watch_until=watch)
        with contextlib.suppress(JobStopped):
            self.apply(change)

    def give_back(self, reason: str, delay: float) -> Retry | Ignore:
        """Record a wait for capacity and return the Celery retry that frees the slot.

        Returns Celery's ``Ignore`` instead when the job was cancelled meanwhile.
        """
        watch = self.watch_until(delay)
        try:
            self.apply(changes.throttled(reason=reason, delay=delay, watch_until=watch))
        except JobStopped:
            return Ignore()
        return self.task.retry(countdown=delay, max_retries=None)

    def request_id(self, attempt: int) -> str:
        """The X-Request-ID sent upstream: the job id and the attempt number."""
        return f"{self.job_id}:{attempt}"

    def check_deadline(self, wait: float = 0.0) -> None:
        """Raise :class:`JobExpired` when the job's deadline is less than ``wait`` s away."""
        deadline = self.record.deadline
        if deadline is not None and time.time() + wait > deadline:
            raise JobExpired(f"job {self.job_id} is past its deadline")

    def watch_until(self, seconds: float = 0.0) -> float:
        """When the sweep looks again: once the lease could have lapsed, plus ``seconds``."""
        return time.time() + seconds + 3 * self.rt.settings.lease_seconds


def enqueue_callback(task: Task[Any, Any], job_id: str) -> None:
    """Publish the delivery of a job's pending callback (the sweep re-sends it if this is lost)."""
    dispatch.deliver_callback(task.app, job_id)


def record(run: JobRun, change: changes.Change) -> None:
    """Apply ``change``, waiting out a Redis outage for up to ``store_retry_seconds``.

    Raises:
        JobStopped: the job moved on meanwhile (cancelled, expired, finished elsewhere).
        redis.ConnectionError: Redis stayed unreachable; the sweep recovers the job later.
    """

    def warn(state: Any) -> None:
        log.warning("job %s: Redis unreachable, retrying to record %s", run.job_id, change.action)

    retrying = Retrying(
        retry=retry_if_exception_type(REDIS_DOWN),
        stop=stop_after_delay(run.rt.settings.store_retry_seconds),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        before_sleep=warn,
        reraise=True,
    )
    retrying(run.apply, change)


def finish(run: JobRun, change: changes.Change) -> None:
    """Record a final change, then publish the callback's delivery on the callbacks queue.

    The attempt never runs in the job's task: a receiver that hangs must not hold a job slot
    (issue 14; this costs one Celery round trip per job, see bench/RESULTS.md).
    """
    try:
        record(run, change)
    except JobStopped:
        log.info("job %s already finished elsewhere", run.job_id)
        return
    try:
        if run.record.job.callback.url is None:
            fan_out(run.task.app, run.tenant, run.job_id)
            return
        enqueue_callback(run.task, run.job_id)
    except (OperationalError, *REDIS_DOWN) as exc:
        # The callback is in the callbacks-due set: the sweep sends it.
        log.warning("job %s: its callback was not sent (%s); the sweep will", run.job_id, exc)


def run_job(task: Task[Any, Any], job_id: str, work: Callable[[JobRun], Any]) -> None:
    """Run ``work`` for a job under its lease; record the outcome and send the callback.

    A job that is unknown, final or waiting for tool results is dropped (a duplicate or stale
    message). A job leased by another worker is left to it. Long upstream waits become
    ``task.retry(countdown=…)`` so no worker slot sleeps.
    """
    rt = runtime()
    with rt.leases.hold(job_id) as held:
        if not held:
            log.info("job %s is leased by another worker; dropping this delivery", job_id)
            return
        stored = rt.store.get(job_id)
        if stored is None or stored.is_final or stored.status == JobStatus.REQUIRES_ACTION:
            log.info("job %s has nothing to run (%s)", job_id, stored and stored.status)
            if stored is not None and stored.is_final:  # cancelled while it waited its turn
                publish_started(task.app, rt.scheduler.release(stored, time.time()))
            return
        run = JobRun(task, rt, stored)
        limits = resolve(rt.settings, rt.redis, stored.tenant)
        if not _admitted(run, limits):
            return
        try:
            with tracing.job_span(stored.job.type.value, job_id, stored.traceparent, task.request):
                _run_leased(task, run, work)
        finally:
            if rt.scheduler.needed(stored, limits):
                publish_started(task.app, rt.scheduler.release(stored, time.time()))


def _admitted(run: JobRun, limits: TenantLimits) -> bool:
    """Whether the job starts now: within its tenant's budgets, and its turn has come.

    Otherwise what happens instead is recorded: failed or throttled by a budget
    (tasks/budget_gate.py), or parked for its turn (tasks/scheduling.py).
    """
    rt = run.rt
    held_back = hold_back(rt, run.record, limits)
    if held_back is not None and held_back.finished:
        finish(run, held_back)
    elif held_back is not None:
        with contextlib.suppress(JobStopped):
            run.apply(held_back)
    elif rt.scheduler.needed(run.record, limits):
        admission = rt.scheduler.arrive(run.record, limits, time.time())
        publish_started(run.task.app, admission.started)
        if not admission.run:
            run.park("fair_share" if rt.settings.max_running_jobs else "tenant_concurrency")
        return admission.run
    return held_back is None


def _run_leased(task: Task[Any, Any], run: JobRun, work: Callable[[JobRun], Any]) -> None:
    try:
        run.check_deadline()
        result = work(run)
    except JobExpired:
        finish(run, changes.expire(run.rt.settings.job_deadline_seconds))
    except JobStopped as exc:
        log.info("job %s stopped: %s", run.job_id, exc)
    except DeferRetry as exc:
        log.info("job %s retries in %.1f s: %s", run.job_id, exc.delay, exc.error)
        raise task.retry(countdown=exc.delay, max_retries=None) from None
    except RateLimitWait as exc:
        log.info("job %s waits %.2f s for the rate limit (%s)", run.job_id, exc.delay, exc.reason)
        raise run.give_back(f"rate_limit:{exc.reason}", exc.delay) from None
    except UpstreamError as exc:
        finish(run, changes.fail(exc.to_dict()))
    except SoftTimeLimitExceeded:
        message = f"the task ran past its soft time limit of {task.soft_time_limit} s"
        finish(run, changes.fail({"type": "timeout", "message": message}))
    except REDIS_DOWN as exc:
        # Not the job's fault: its lease lapses and the sweep runs it again.
        log.warning("job %s interrupted, Redis unreachable: %s", run.job_id, exc)
    except Exception as exc:
        # A bug must not leave the job running for the sweep to requeue forever.
        log.exception("job %s crashed", run.job_id)
        error = {"type": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finish(run, changes.fail(error))
    else:
        finish(run, changes.succeed(result))
