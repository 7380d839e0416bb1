"""Upstream calls through the deployment-wide rate limiter (DESIGN § Retries, rate limits).

Before each attempt a slot is taken from the global limiter (before the attempt is counted,
so a wait costs no attempt); after it, the token estimate is corrected with the real usage;
a 429 that Mistral sends anyway pauses every worker of the deployment, not only this job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis

from mistral_queue.metrics import record_upstream_call
from mistral_queue.mistral.client import UpstreamResponse
from mistral_queue.mistral.errors import RateLimited, UpstreamError
from mistral_queue.mistral.limiter import RateLimiter, Reservation, estimate_tokens, pause_for

log = logging.getLogger(__name__)

T = TypeVar("T")


def usage_of(result: Any) -> dict[str, Any] | None:
    """The ``usage`` object of an upstream answer (a response or a JSON body), if any."""
    body = result.json if isinstance(result, UpstreamResponse) else result
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else None


class CallLimit:
    """The limiter's view of one logical call (with all its attempts) to ``model``."""

    def __init__(self, limiter: RateLimiter, model: str, body: dict[str, Any]) -> None:
        self.limiter = limiter
        self.model = model
        self.estimate = estimate_tokens(body)
        self._reservation: Reservation | None = None

    def acquire(self) -> None:
        """Take a slot for the next attempt.

        Raises:
            RateLimitWait: no slot soon enough; the task should give its worker slot back.
        """
        self._reservation = self.limiter.acquire(self.model, self.estimate)

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
            self._settle(tokens)
            record_upstream_call(self.limiter.redis, self.model, 200, usage)

    def _book_failure(self, error: UpstreamError) -> None:
        with _best_effort("record a failed call"):
            if isinstance(error, RateLimited):
                self.limiter.penalize(pause_for(error), self.model)
            self._settle(0)
            status = error.status_code or error.error_type
            record_upstream_call(self.limiter.redis, self.model, status, None)

    def _settle(self, tokens: int) -> None:
        if self._reservation is not None:
            self._reservation.settle(tokens)
            self._reservation = None


@contextlib.contextmanager
def _best_effort(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        log.warning("could not %s: %s", what, exc)
