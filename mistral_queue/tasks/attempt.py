"""One upstream attempt, end to end: limiter slot -> attempt -> retry decision -> record.

:func:`call` is what ``JobRun.call`` runs for a job's upstream call: for each attempt it takes
a slot from the deployment-wide rate limiter (before the attempt is counted, so a wait costs
no attempt), records the attempt on the job, makes it, settles the limiter with the real
token usage (a 429 Mistral sends anyway pauses every worker), and lets the pure policy of
``mistral/retry.py`` decide on a retry, which is recorded as ``job.retrying`` before the wait.
:class:`CallLimit` is also used alone by direct-mode batch requests, which record per request.

Every retry or wait layer in the system, and the one module that owns it:

=============================================  ==============================================
Layer                                          Owner
=============================================  ==============================================
Upstream retry: tenacity, full-jitter backoff  ``mistral/retry.py`` (``RetryPolicy``)
  and Retry-After, ``max_attempts`` budget
Long upstream wait handed to Celery            ``tasks/base.py`` (``task.retry(countdown)``
  (``DeferRetry``, ``RateLimitWait``)            on ``DeferRetry``/``RateLimitWait``)
Rate-limit slot: short waits slept, long       ``mistral/limiter.py`` (``RateLimiter``)
  ones refused; 429 pauses the deployment
Limiter slot per attempt, settle, metrics      this module (``CallLimit``)
Tenant rps/tpm, budget reservation per call    ``tasks/metering.py`` (``CallMeter``)
Fair share, caps, priority: park, start next   ``tasks/scheduling.py`` (``Scheduler``)
Budget wait (``on_budget: "wait"``)            ``tasks/budget_gate.py`` + the sweep
Job state writes through a Redis outage        ``tasks/base.py`` (``record``: tenacity)
  (``store_retry_seconds``)
Direct-batch request deferred retry            ``tasks/batch/direct.py`` (``_defer``)
  (countdown on ``batch.request``)
Mistral batch poll backoff (doubling,          ``tasks/batch/upstream.py`` (``_next_delay``)
  ``batch_poll_*_seconds``)
Agent tool-call HTTP retries (tenacity)        ``tasks/agent/tool_calls.py``
Callback delivery schedule                     ``tasks/callbacks.py`` (``deliver_now``)
  (``callback_retry_delays``, Retry-After)
Sweep requeue of a lost job (doubling)         ``worker/sweeper.py`` (``_requeue``)
Sweep resend of a lost callback                ``worker/sweeper.py`` (``_callbacks``)
Broker publish retries (API)                   ``broker/dispatch.py`` (``PUBLISH_RETRY``),
                                               ``broker/fast_publish.py`` (redis ``Retry``)
=============================================  ==============================================
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from mistral_queue import tracing
from mistral_queue.jobs import changes
from mistral_queue.metrics import model_label, record_upstream_call
from mistral_queue.mistral.client import UpstreamResponse
from mistral_queue.mistral.errors import RateLimited, RateLimitWait, UpstreamError
from mistral_queue.mistral.limiter import (
    LimitGroup,
    RateLimiter,
    Reservation,
    estimate_tokens,
    pause_for,
)
from mistral_queue.mistral.retry import RetryInfo
from mistral_queue.tasks.metering import CallMeter

if TYPE_CHECKING:
    from mistral_queue.tasks.base import JobRun

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Redis errors worth waiting out: the server restarts, loads its AOF, or is unreachable.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def call(run: JobRun, fn: Callable[[int], T], body: dict[str, Any], attempts_before: int) -> T:
    """Run one upstream call of ``run``'s job with the retry policy and the rate limiter.

    Args:
        run: The job run (its lease held).
        fn: One attempt; gets the job-wide attempt number (for the X-Request-ID).
        body: The request body the limiter estimates tokens from.
        attempts_before: Attempts the job spent on earlier calls (the finished steps of an
            agent job); they do not use up this call's ``max_attempts``.

    Raises:
        DeferRetry: the next wait is long; the task gives its slot back.
        RateLimitWait: the deployment's rate limit has no slot soon; the same.
        UpstreamError: the call failed for good.
        JobStopped: the job was cancelled between attempts.
    """
    model = str(body.get("model") or f"agent:{body.get('agent_id', '')}")
    meter = CallMeter.of(run.rt, run.job_id, run.tenant, model)
    limit = CallLimit(run.rt.limiter, model, body, meter)

    def before(number: int) -> None:
        # The slot comes first, so waiting for it does not use up an attempt.
        with tracing.limiter_span(model):
            limit.acquire()
        run.check_deadline()
        run.apply(changes.attempt(number + attempts_before, watch_until=run.watch_until()))

    def on_retry(info: RetryInfo) -> None:
        _record_retry(run, replace(info, attempt=info.attempt + attempts_before))

    answers: list[T] = []

    def attempt(number: int) -> T:
        # Its span is the upstream request's parent (traceparent, mistral/client.py).
        with tracing.upstream_span(body, number + attempts_before) as span:
            answer = fn(number + attempts_before)
            tracing.record_answer(span, answer)
        answers.append(answer)
        return answer

    try:
        return run.rt.policy.call(
            limit.wrap(attempt),
            attempts_done=run.rt.store.attempts(run.job_id) - attempts_before,
            on_attempt=before,
            on_retry=on_retry,
        )
    except REDIS_DOWN:
        # Mistral answered but the bookkeeping after it (limiter, metrics) could not reach
        # Redis: keep the answer, which the caller records next, rather than ask again.
        if answers:
            log.warning("job %s: keeping an upstream answer through a Redis error", run.job_id)
            return answers[-1]
        raise


def _record_retry(run: JobRun, info: RetryInfo) -> None:
    run.check_deadline(info.delay)
    change = changes.retrying(
        attempt=info.attempt,
        delay=info.delay,
        error=info.error.to_dict(),
        watch_until=run.watch_until(info.delay),
    )
    run.apply(change)


def usage_of(result: Any) -> dict[str, Any] | None:
    """The ``usage`` object of an upstream answer (a response or a JSON body), if any."""
    body = result.json if isinstance(result, UpstreamResponse) else result
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else None


class CallLimit:
    """The limiter's view of one logical call (with all its attempts) to ``model``."""

    def __init__(
        self,
        limiter: RateLimiter,
        model: str,
        body: dict[str, Any],
        meter: CallMeter | None = None,
    ) -> None:
        self.limiter = limiter
        self.model = model
        # Bounded: a model name is chosen by a tenant, a metrics label must not be.
        self._label = model_label(model, limiter.settings.metric_models())
        self.estimate = estimate_tokens(body)
        #: The tenant's own limits, usage ledger and budget reservation (tasks/metering.py).
        self.meter = meter
        self._reservation: Reservation | None = None

    def acquire(self) -> None:
        """Take a slot for the next attempt.

        Raises:
            RateLimitWait: no slot soon enough; the task should give its worker slot back.
        """
        if self.meter is not None:
            # The tenant's own limits first: a tenant over them takes no deployment slot.
            self.meter.reserve(self.estimate, self._take_tenant_slot)
        try:
            self._reservation = self.limiter.acquire(self.model, self.estimate)
        except RateLimitWait:
            if self.meter is not None:
                self.meter.settle(None)
            raise

    def _take_tenant_slot(self, group: LimitGroup) -> Reservation:
        return self.limiter.acquire_in(group, self.model, self.estimate)

    def wrap(self, fn: Callable[[int], T]) -> Callable[[int], T]:
        """``fn`` with its reservation settled after each attempt."""

        def attempt(number: int) -> T:
            try:
                result = fn(number)
            except UpstreamError as exc:
                self._book_failure(exc)
                raise
            self._book_success(result)
            return result

        return attempt

    def _book_success(self, result: Any) -> None:
        usage = usage_of(result)
        total = usage.get("total_tokens") if usage else None
        tokens = int(total) if isinstance(total, int | float) else self.estimate
        # Bookkeeping only: a Redis outage here must not lose the answer already received.
        with _best_effort("settle the rate limit"):
            self._settle(tokens, usage)
            record_upstream_call(self.limiter.redis, self._label, 200, usage)

    def _book_failure(self, error: UpstreamError) -> None:
        with _best_effort("record a failed call"):
            if isinstance(error, RateLimited):
                self.limiter.penalize(pause_for(error), self.model)
            self._settle(0, None)
            status = error.status_code or error.error_type
            record_upstream_call(self.limiter.redis, self._label, status, None)

    def _settle(self, tokens: int, usage: dict[str, Any] | None) -> None:
        if self.meter is not None:
            self.meter.settle(usage)
        if self._reservation is not None:
            self._reservation.settle(tokens)
            self._reservation = None


@contextlib.contextmanager
def _best_effort(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        log.warning("could not %s: %s", what, exc)
