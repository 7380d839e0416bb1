"""The deployment-wide rate limiter against a private redis-server, threads and processes."""

from __future__ import annotations

import multiprocessing
import random
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from mistral_queue.config import Settings
from mistral_queue.dev.processes import Stack, start_redis
from mistral_queue.mistral.errors import RateLimitWait
from mistral_queue.mistral.limiter import (
    GLOBAL_PAUSE_KEY,
    JITTER_FRACTION,
    MAX_MARGIN,
    MIN_MARGIN,
    LimitGroup,
    RateLimiter,
)

#: Slack for sleeps that overshoot and scheduling on a busy 2-core box, seconds.
SLACK = 0.25


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of this module's own, so tests may flush it."""
    stack = Stack()
    proc = start_redis(stack)
    yield proc.url
    stack.stop_all()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    made.flushdb()
    yield made
    made.close()


def limiter(client: redis.Redis, sleeps: list[float] | None = None, **settings: Any) -> RateLimiter:
    # No headroom: these tests check exact token spacing (test_headroom_applies_to_tokens_only).
    values: dict[str, Any] = {"rate_limit_max_inline_wait": 0.5, "rate_limit_headroom": 0.0}
    values.update(settings)
    sleep = sleeps.append if sleeps is not None else time.sleep
    return RateLimiter(client, Settings(**values), sleep=sleep, rng=random.Random(5))


def test_no_limits_grants_at_once(client: redis.Redis) -> None:
    sleeps: list[float] = []
    limits = limiter(client, sleeps)
    for _ in range(100):
        reservation = limits.acquire("mistral-small-latest", 10_000)
        assert reservation.waited == 0
    assert sleeps == []


def test_rps_calls_are_paced_and_long_waits_deferred(client: redis.Redis) -> None:
    sleeps: list[float] = []
    limits = limiter(client, sleeps, rate_limit_rps=10)
    granted = [limits.acquire("m", 1) for _ in range(5)]
    # Slots a window / 10 apart (the window is 1 s plus the 10 ms margin), up to the 0.5 s
    # inline limit: a burst of 10 sent at once would reach the server spread by its queueing
    assert granted[0].waited == 0
    assert all(0 < reservation.waited <= 0.5 for reservation in granted[1:])
    slots = sorted(_scores(client, limits.group_for("m").key("rpslog")))
    step = (1.0 + MIN_MARGIN) / 10
    for previous, current in zip(slots, slots[1:], strict=False):
        assert current - previous == pytest.approx(step, abs=0.001)
    # The 6th or 7th slot (0.5 or 0.6 s after the first, less the time these calls took)
    # is the first past the inline limit: deferred
    with pytest.raises(RateLimitWait) as caught:
        for _ in range(3):
            limits.acquire("m", 1)
    assert caught.value.reason == "rps"
    assert 0.5 <= caught.value.delay <= 0.71 * (1 + JITTER_FRACTION) + 0.02


def test_a_late_departure_is_logged_at_the_time_it_left(client: redis.Redis) -> None:
    # A worker that wakes 0.3 s late (a busy host) must not be counted at its booked slot
    def late(seconds: float) -> None:
        time.sleep(seconds + 0.3)

    limits = RateLimiter(client, Settings(rate_limit_rps=1, rate_limit_max_inline_wait=2.0),
                         sleep=late)  # fmt: skip
    log = limits.group_for("m").key("rpslog")
    limits.acquire("m", 1)
    second = limits.acquire("m", 1)
    # Then the second's entry is its booked slot (1 s + margin after the first) plus 0.3 s
    first, left = sorted(_scores(client, log))
    assert second.waited == pytest.approx(1.0 + MIN_MARGIN, abs=0.05)
    assert left - first == pytest.approx(1.0 + MIN_MARGIN + 0.3, abs=SLACK / 2)


def _scores(client: redis.Redis, key: str) -> list[float]:
    entries: Any = client.zrange(key, 0, -1, withscores=True)
    return [float(score) for _, score in entries]


def test_keys_expire(client: redis.Redis) -> None:
    limits = limiter(client, [], rate_limit_rps=10, rate_limit_tpm=6000)
    limits.acquire("m", 100)
    group = limits.group_for("m")
    assert 0 < client.pttl(group.key("rpslog")) <= 4000
    assert 0 < client.pttl(group.key("tpm")) <= 3000


def test_tokens_pay_after_and_settle(client: redis.Redis) -> None:
    # 6000 tokens a minute is 100 a second: 600 tokens leave the budget 6 s in debt.
    limits = limiter(client, [], rate_limit_tpm=6000)
    big = limits.acquire("m", 600)
    assert big.waited == 0
    with pytest.raises(RateLimitWait) as caught:
        limits.acquire("m", 10)
    assert caught.value.reason == "tpm"
    assert 5.8 <= caught.value.delay <= 6.0 * (1 + JITTER_FRACTION) + 0.1
    big.settle(0)  # not billed after all: the estimate comes back
    assert limits.acquire("m", 10).waited == pytest.approx(0, abs=0.01)
    client.flushdb()
    small = limits.acquire("m", 100)
    small.settle(1100)  # used 1000 more than estimated: 11 s in debt
    with pytest.raises(RateLimitWait) as caught:
        limits.acquire("m", 10)
    assert 10.8 <= caught.value.delay <= 11 * (1 + JITTER_FRACTION) + 0.1
    small.settle(1100)  # settling the same value again changes nothing
    with pytest.raises(RateLimitWait) as again:
        limits.acquire("m", 10)
    assert again.value.delay <= 11 * (1 + JITTER_FRACTION) + 0.1


def test_penalize_pauses_everyone_and_never_shortens(client: redis.Redis) -> None:
    limits = limiter(client, [])
    other_process = limiter(redis.Redis(connection_pool=client.connection_pool), [])
    assert limits.penalize(5.0) == pytest.approx(5.0, abs=0.05)
    assert limits.penalize(1.0) == pytest.approx(5.0, abs=0.05)
    for model in ("mistral-small-latest", "mistral-large-latest"):
        with pytest.raises(RateLimitWait) as caught:
            other_process.acquire(model, 1)
        assert caught.value.reason == "paused"
        assert 4.8 <= caught.value.delay <= 5 * (1 + JITTER_FRACTION) + 0.05
    assert 0 < client.pttl(GLOBAL_PAUSE_KEY) <= 6100


def test_penalize_one_model_group(client: redis.Redis) -> None:
    sleeps: list[float] = []
    limits = limiter(client, sleeps, rate_limits={"mistral-large-*": {"rps": 5}})
    limits.penalize(3.0, "mistral-large-2411")
    with pytest.raises(RateLimitWait):
        limits.acquire("mistral-large-latest", 1)
    assert limits.acquire("mistral-small-latest", 1).waited == 0


def test_a_429_of_a_full_window_pauses_only_until_its_oldest_call_leaves(
    client: redis.Redis,
) -> None:
    # New rule (was: every 429 paused the group for its whole Retry-After, 1 s or more).
    limits = limiter(client, [], rate_limit_rps=5, rate_limit_max_inline_wait=2.0)
    group = limits.group_for("m")
    # Given a full window: 5 calls left in the last 0.8 s, and Mistral answered one 429
    seconds, micros = client.time()
    now = float(seconds) + float(micros) / 1e6
    sent = {f"c{i}": now - 0.8 + 0.2 * i for i in range(5)}
    client.zadd(group.key("rpslog"), sent)
    pause = limits.penalize(1.0, "m")
    # Then the pause ends when the oldest call leaves a window widened by the doubled margin
    assert pause == pytest.approx(0.2 + 2 * MIN_MARGIN, abs=0.05)
    margin = float(client.hget(group.key("margin"), "margin") or 0)
    assert margin == pytest.approx(2 * MIN_MARGIN)
    # And a 429 our log cannot explain (an empty window: tokens, other clients) waits in full
    client.delete(group.key("rpslog"), group.key("pause"))
    assert limits.penalize(3.0, "m") == pytest.approx(3.0, abs=0.05)


def test_repeated_429s_widen_the_margin_up_to_its_cap(client: redis.Redis) -> None:
    limits = limiter(client, [], rate_limit_rps=3, rate_limit_max_inline_wait=5.0)
    group = limits.group_for("m")
    for _ in range(8):
        for _ in range(3):
            client.zadd(group.key("rpslog"), {secrets.token_hex(4): float(client.time()[0])})
        limits.penalize(0.01, "m")
    assert float(client.hget(group.key("margin"), "margin") or 0) == pytest.approx(MAX_MARGIN)


def test_short_pause_end_is_spread_not_a_herd(client: redis.Redis) -> None:
    sleeps: list[float] = []
    limits = limiter(client, sleeps, rate_limit_rps=20, rate_limit_max_inline_wait=1.0)
    limits.penalize(0.3)
    waits = [limits.acquire("m", 1).waited for _ in range(5)]
    assert waits[0] == pytest.approx(0.3, abs=0.03)
    for previous, current in zip(waits, waits[1:], strict=False):
        assert current == pytest.approx(previous + (1.0 + MIN_MARGIN) / 20, abs=0.01)


def test_deferred_waits_are_jittered(client: redis.Redis) -> None:
    limits = limiter(client, [])
    limits.penalize(10.0)
    delays = []
    for _ in range(50):
        with pytest.raises(RateLimitWait) as caught:
            limits.acquire("m", 1)
        delays.append(caught.value.delay)
    assert len(set(delays)) == len(delays)
    assert min(delays) >= 9.5
    assert max(delays) - min(delays) > 1.0


def test_per_model_patterns(client: redis.Redis) -> None:
    limits = limiter(
        client,
        [],
        rate_limit_rps=100,
        rate_limit_tpm=600_000,
        rate_limits={"mistral-large-*": {"rps": 1}, "mistral-*": {"tpm": 60}},
    )
    large = limits.group_for("mistral-large-2411")
    assert (large.name, large.rps, large.tpm) == ("mistral-large-*", 1, 600_000)
    small = limits.group_for("mistral-small-latest")
    assert (small.name, small.rps, small.tpm) == ("mistral-*", 100, 60)
    assert limits.group_for("codestral-latest").name == "default"
    limits.acquire("mistral-large-2411", 1)
    with pytest.raises(RateLimitWait) as caught:
        limits.acquire("mistral-large-latest", 1)  # the same budget as 2411
    assert caught.value.reason == "rps"
    for _ in range(20):
        assert limits.acquire("codestral-latest", 1).waited < 0.5


def _hammer(url: str, limit: dict[str, Any], calls: int, threads: int, out: Any) -> None:
    """Take ``calls`` slots of 10 tokens per thread like a worker does; report grant times."""
    client = redis.Redis.from_url(url)
    limits = RateLimiter(
        client, Settings(**limit, rate_limit_max_inline_wait=0.3, rate_limit_headroom=0.0)
    )
    granted: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        done = 0
        deadline = time.monotonic() + 30
        while done < calls and time.monotonic() < deadline:
            try:
                limits.acquire("m", 10)
            except RateLimitWait as wait:
                time.sleep(wait.delay)  # a task would retry(countdown=delay)
                continue
            with lock:
                granted.append(time.time())
            done += 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(40)
    out.put(granted)
    client.close()


def _spans_ok(grants: list[float], rps: float, expected: int) -> None:
    assert len(grants) == expected
    grants.sort()
    # At most rps in any one second window (the server's rule), so N grants span at least
    # ceil(N / rps) - 1 windows, less slack for when each thread noted its grant.
    windows = -(-len(grants) // int(rps)) - 1
    assert grants[-1] - grants[0] >= windows - SLACK
    for i, start in enumerate(grants):
        inside = sum(1 for t in grants[i:] if t < start + 1.0 - SLACK)
        assert inside <= rps


@pytest.mark.slow
def test_rps_accuracy_threads(redis_url: str, client: redis.Redis) -> None:
    out: Any = multiprocessing.get_context("fork").SimpleQueue()
    _hammer(redis_url, {"rate_limit_rps": 20}, 5, 8, out)
    _spans_ok(out.get(), 20, 40)


@pytest.mark.slow
@pytest.mark.parametrize(
    "limit",
    # 10-token calls at 12,000 tokens a minute are 20 calls a second, like 20 rps.
    [{"rate_limit_rps": 20}, {"rate_limit_tpm": 12_000}],
    ids=["rps", "tpm"],
)
def test_accuracy_processes(redis_url: str, client: redis.Redis, limit: dict[str, Any]) -> None:
    context = multiprocessing.get_context("fork")
    out: Any = context.SimpleQueue()
    procs = [context.Process(target=_hammer, args=(redis_url, limit, 3, 4, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    grants: list[float] = []
    for _ in procs:
        grants.extend(out.get())
    for proc in procs:
        proc.join(40)
        assert proc.exitcode == 0
    _spans_ok(grants, 20, 48)


def test_headroom_applies_to_tokens_only() -> None:
    group = LimitGroup("default", rps=10, tpm=60_000, headroom=0.05)
    assert group.request_window == (10, 1.0)
    assert group.seconds_per_token == pytest.approx(60 / 57_000)


def test_request_windows_of_fractional_limits() -> None:
    assert LimitGroup("g", rps=0.5, tpm=None).request_window == (1, 2.0)
    assert LimitGroup("g", rps=2.5, tpm=None).request_window == (2, 0.8)
    assert LimitGroup("g", rps=None, tpm=None).request_window == (0, 0.0)
