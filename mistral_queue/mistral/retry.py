"""The retry policy for upstream calls: tenacity, exponential backoff with full jitter.

Attempts are counted across Celery re-runs of a task: a wait longer than
``inline_retry_max_wait`` is not slept in the worker thread but raised as DeferRetry, the
task re-schedules itself with ``retry(countdown=delay)`` and calls again with
``attempts_done`` set, so the budget (``max_attempts``) and the backoff continue.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from mistral_queue.config import Settings
from mistral_queue.mistral.errors import DeferRetry, UpstreamError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryInfo:
    """What ``on_retry`` is told before each wait.

    Attributes:
        attempt: the global number (1-based, across task runs) of the attempt that failed.
        delay: seconds until the next attempt.
        error: the retryable error of the failed attempt.
    """

    attempt: int
    delay: float
    error: UpstreamError


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long apart upstream calls are tried (DESIGN § Retries).

    Attributes:
        max_attempts: attempts in all, the first included, across task runs.
        base_delay: seconds; the backoff cap after attempt n is ``base_delay * 2**(n-1)``.
        max_delay: seconds; the backoff cap never exceeds it (a Retry-After may).
        inline_max_wait: seconds; longer waits raise DeferRetry instead of sleeping.
        sleep: the sleep function (tests inject a fake).
        rng: the random source of the jitter (seed it for reproducible schedules).
    """

    max_attempts: int
    base_delay: float
    max_delay: float
    inline_max_wait: float
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> RetryPolicy:
        """The policy of ``max_attempts``, ``retry_base_delay``, ``retry_max_delay`` and
        ``inline_retry_max_wait``."""
        return cls(
            max_attempts=settings.max_attempts,
            base_delay=settings.retry_base_delay,
            max_delay=settings.retry_max_delay,
            inline_max_wait=settings.inline_retry_max_wait,
            sleep=sleep,
            rng=rng or random.Random(),
        )

    def delay_for(self, attempt: int, error: UpstreamError) -> float:
        """Seconds to wait after the failed global attempt ``attempt`` (1-based).

        Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**(attempt-1))]``. When
        the error carries a Retry-After, the wait is at least that plus up to
        ``base_delay`` of jitter, so callers told the same time do not all come back at once.
        """
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        delay = self.rng.uniform(0.0, cap)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after + self.rng.uniform(0.0, self.base_delay))
        return delay

    def call(
        self,
        fn: Callable[[int], T],
        *,
        attempts_done: int = 0,
        on_attempt: Callable[[int], None] | None = None,
        on_retry: Callable[[RetryInfo], None] | None = None,
    ) -> T:
        """Run ``fn(attempt_number)`` until it returns, retrying retryable UpstreamErrors.

        Args:
            fn: one upstream attempt; gets the global attempt number (``attempts_done`` +
                the local one). At least one attempt is always made.
            attempts_done: attempts already made by earlier runs of the task.
            on_attempt: called with the global attempt number before each attempt.
            on_retry: called before each wait, and before DeferRetry is raised.

        Returns:
            What ``fn`` returned.

        Raises:
            DeferRetry: when the next wait exceeds ``inline_max_wait``.
            UpstreamError: a non-retryable one at once; the last one once the attempts
                are used up.
            Exception: anything else ``fn`` raises, at once.
        """

        def number(state: RetryCallState) -> int:
            return attempts_done + state.attempt_number

        def before(state: RetryCallState) -> None:
            if on_attempt is not None:
                on_attempt(number(state))

        def wait(state: RetryCallState) -> float:
            return self.delay_for(number(state), _error_of(state))

        def before_sleep(state: RetryCallState) -> None:
            delay = state.upcoming_sleep
            error = _error_of(state)
            if on_retry is not None:
                on_retry(RetryInfo(attempt=number(state), delay=delay, error=error))
            if delay > self.inline_max_wait:
                raise DeferRetry(delay=delay, error=error, attempt=number(state))

        retrying = Retrying(
            sleep=self.sleep,
            stop=lambda state: number(state) >= self.max_attempts,
            wait=wait,
            retry=retry_if_exception(_retryable),
            before=before,
            before_sleep=before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result = fn(number(attempt.retry_state))
        return result


def _error_of(state: RetryCallState) -> UpstreamError:
    # Only called after a retryable failure, so the outcome holds an UpstreamError.
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, UpstreamError)
    return error
