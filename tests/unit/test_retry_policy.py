"""The retry policy as pure logic: a fake sleep, a seeded RNG, scripted attempt outcomes."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from mistral_queue.config import Settings
from mistral_queue.mistral.errors import (
    DeferRetry,
    NoAllowance,
    RateLimited,
    RequestRejected,
    ServerError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from mistral_queue.mistral.retry import RetryInfo, RetryPolicy


class Script:
    """An upstream call that fails with the given errors, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.numbers: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.numbers.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(
    *,
    max_attempts: int = 6,
    base: float = 1.0,
    cap: float = 120.0,
    inline: float = 1000.0,
    seed: int = 7,
) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    built = RetryPolicy(
        max_attempts=max_attempts,
        base_delay=base,
        max_delay=cap,
        inline_max_wait=inline,
        sleep=slept.append,
        rng=random.Random(seed),
    )
    return built, slept


def test_from_settings() -> None:
    settings = Settings(
        max_attempts=3, retry_base_delay=0.5, retry_max_delay=9, inline_retry_max_wait=2
    )
    built = RetryPolicy.from_settings(settings, rng=random.Random(1))
    assert (built.max_attempts, built.base_delay, built.max_delay, built.inline_max_wait) == (
        3,
        0.5,
        9,
        2,
    )


def test_success_needs_no_retry() -> None:
    retry, slept = policy()
    call = Script()
    assert retry.call(call) == "ok"
    assert call.numbers == [1]
    assert slept == []


def test_retries_retryable_errors_until_success() -> None:
    retry, slept = policy()
    call = Script(UpstreamConnectionError("reset"), UpstreamTimeout("t"), ServerError("503"))
    seen: list[int] = []
    infos: list[RetryInfo] = []
    assert retry.call(call, on_attempt=seen.append, on_retry=infos.append) == "ok"
    assert call.numbers == seen == [1, 2, 3, 4]
    assert [info.attempt for info in infos] == [1, 2, 3]
    assert [info.delay for info in infos] == slept
    assert [type(info.error) for info in infos] == [
        UpstreamConnectionError,
        UpstreamTimeout,
        ServerError,
    ]


def test_full_jitter_bounds_follow_the_global_attempt() -> None:
    retry, _ = policy(base=1.0, cap=10.0)
    error = ServerError("500")
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (40, 10.0)]:
        delays = [retry.delay_for(attempt, error) for _ in range(2000)]
        assert all(0.0 <= delay <= cap for delay in delays)
        # Full jitter spreads over the whole range, not just near the cap.
        assert min(delays) < 0.1 * cap
        assert max(delays) > 0.9 * cap


def test_schedule_is_reproducible_with_a_seed() -> None:
    def schedule() -> list[float]:
        retry, slept = policy(max_attempts=5, seed=42)
        with pytest.raises(ServerError):
            retry.call(Script(*[ServerError("500") for _ in range(5)]))
        return slept

    assert schedule() == schedule()
    assert len(schedule()) == 4


def test_retry_after_is_a_floor_plus_a_little_jitter() -> None:
    retry, _ = policy(base=1.0)
    error = RateLimited("slow down", status_code=429, retry_after=30.0)
    delays = [retry.delay_for(1, error) for _ in range(1000)]
    assert all(30.0 <= delay <= 31.0 for delay in delays)
    assert len(set(delays)) > 900


def test_retry_after_longer_than_max_delay_is_honoured() -> None:
    retry, _ = policy(cap=5.0)
    error = RateLimited("slow down", status_code=429, retry_after=60.0)
    assert retry.delay_for(1, error) >= 60.0


def test_long_wait_defers_to_celery_after_on_retry() -> None:
    retry, slept = policy(inline=5.0)
    infos: list[RetryInfo] = []
    error = RateLimited("slow down", status_code=429, retry_after=30.0)
    with pytest.raises(DeferRetry) as caught:
        retry.call(Script(error), on_retry=infos.append)
    assert slept == []
    assert caught.value.error is error
    assert caught.value.attempt == 1
    assert caught.value.delay >= 30.0
    assert [info.delay for info in infos] == [caught.value.delay]


def test_short_waits_sleep_inline_long_ones_defer() -> None:
    retry, slept = policy(base=1.0, cap=120.0, inline=3.0, seed=3)
    call = Script(*[ServerError("500") for _ in range(5)])
    with pytest.raises(DeferRetry) as caught:
        retry.call(call)
    assert all(delay <= 3.0 for delay in slept)
    assert caught.value.delay > 3.0
    assert caught.value.attempt == len(call.numbers) == len(slept) + 1


def test_exhaustion_raises_the_last_error_not_retry_error() -> None:
    retry, slept = policy(max_attempts=3)
    last = UpstreamTimeout("third")
    call = Script(ServerError("first"), ServerError("second"), last)
    with pytest.raises(UpstreamTimeout) as caught:
        retry.call(call)
    assert caught.value is last
    assert call.numbers == [1, 2, 3]
    assert len(slept) == 2


@pytest.mark.parametrize(
    "error",
    [
        RequestRejected("bad", status_code=400),
        RequestRejected("who", status_code=401),
        RequestRejected("invalid", status_code=422),
        NoAllowance("no allowance", status_code=429),
    ],
)
def test_non_retryable_raises_at_once(error: UpstreamError) -> None:
    retry, slept = policy()
    infos: list[RetryInfo] = []
    with pytest.raises(type(error)) as caught:
        retry.call(Script(error), on_retry=infos.append)
    assert caught.value is error
    assert slept == []
    assert infos == []


def test_other_exceptions_are_not_retried() -> None:
    retry, slept = policy()
    call = Script(KeyError("bug"))
    with pytest.raises(KeyError):
        retry.call(call)
    assert call.numbers == [1]
    assert slept == []


def test_attempts_done_offsets_numbers_budget_and_backoff() -> None:
    retry, slept = policy(max_attempts=6, base=1.0, cap=100.0)
    call = Script(*[ServerError("500") for _ in range(10)])
    seen: list[int] = []
    infos: list[RetryInfo] = []
    with pytest.raises(ServerError):
        retry.call(call, attempts_done=3, on_attempt=seen.append, on_retry=infos.append)
    assert call.numbers == seen == [4, 5, 6]
    assert [info.attempt for info in infos] == [4, 5]
    # The backoff continues from the global attempt: after attempt 4 the cap is 8 s.
    assert all(delay <= 2.0 ** (info.attempt - 1) for delay, info in zip(slept, infos, strict=True))


def test_budget_already_used_still_makes_one_attempt() -> None:
    retry, slept = policy(max_attempts=3)
    call = Script(ServerError("500"))
    with pytest.raises(ServerError):
        retry.call(call, attempts_done=3)
    assert call.numbers == [4]
    assert slept == []


def test_on_retry_failure_propagates() -> None:
    retry, _ = policy()

    def boom(info: RetryInfo) -> None:
        raise RuntimeError("store down")

    hook: Callable[[RetryInfo], None] = boom
    with pytest.raises(RuntimeError):
        retry.call(Script(ServerError("500")), on_retry=hook)
