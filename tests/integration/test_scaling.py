"""One rate limit for the whole deployment, tenant fairness, and RabbitMQ as the broker.

Each test starts its own deployment (real processes) with the settings it is about.
"""

from __future__ import annotations

import socket
import statistics
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest

from mistral_queue.dev.stack import LocalStack, launch
from tests.conftest import TEST_ENV
from tests.helpers import Api, chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

#: Requests per second both the emulator and our limiter allow.
RPS = 10


def _calls(stack: LocalStack) -> list[dict[str, Any]]:
    log = httpx.get(
        f"{stack.emulator.url}/_emulator/requests", params={"path": "/v1/chat/completions"}
    )
    calls: list[dict[str, Any]] = log.json()["data"]
    return calls


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture(scope="module")
def limited() -> Iterator[LocalStack]:
    """Three worker processes sharing one limit of RPS requests per second, with no headroom:
    requests are counted in the server's own window, against the time each one leaves.

    The emulator shares this machine's two cores with the three workers, so requests reach it
    with far more jitter than a remote API sees: a 150 ms window margin absorbs it (the
    default is 10 ms).
    """
    env = {**TEST_ENV, "MQ_RATE_LIMIT_RPS": str(RPS), "MQ_RATE_LIMIT_MARGIN": "0.15"}
    local = launch(env=env, workers=3, concurrency=8, emulator_args=["--rps-limit", str(RPS)])
    yield local
    local.stop()


def test_three_workers_stay_under_one_limit(limited: LocalStack) -> None:
    api = Api(limited.api.url, "key-acme")
    # Given more jobs than RPS allows in a second
    jobs = [api.submit(chat_body(f"limited {i}")) for i in range(5 * RPS)]
    for job in jobs:
        assert api.wait_final(job["id"], timeout=60, callback=False)["status"] == "succeeded"
    calls = _calls(limited)
    # Then the emulator never saw more than RPS in any one-second window, and never said 429
    assert [c["status"] for c in calls].count(429) == 0
    assert _max_in_any_second([c["time"] for c in calls]) <= RPS


def test_a_429_pauses_every_worker(limited: LocalStack) -> None:
    api = Api(limited.api.url, "key-acme")
    httpx.post(f"{limited.emulator.url}/_emulator/reset")
    # Given one job is answered 429 with Retry-After: 2
    first = api.submit(chat_body("slow down [[fault:429:2]]"))
    wait_for(lambda: any(c["status"] == 429 for c in _calls(limited)), 10, "the 429")
    others = [api.submit(chat_body(f"after the pause {i}")) for i in range(6)]
    for job in [first, *others]:
        api.wait_final(job["id"], timeout=60, callback=False)
    calls = _calls(limited)
    refused_at = next(c["time"] for c in calls if c["status"] == 429)
    # Then no worker called upstream during the pause
    during = [c for c in calls if refused_at < c["time"] < refused_at + 1.9]
    assert during == []


@pytest.fixture(scope="module")
def capped() -> Iterator[LocalStack]:
    """A deployment where one tenant may run at most 3 jobs at once (of 12 worker threads)."""
    env = {**TEST_ENV, "MQ_TENANT_MAX_CONCURRENCY": "3"}
    local = launch(env=env, workers=1, concurrency=12, emulator_args=["--latency-ms", "500"])
    yield local
    local.stop()


def test_a_burst_of_one_tenant_does_not_starve_another(capped: LocalStack) -> None:
    acme, globex = Api(capped.api.url, "key-acme"), Api(capped.api.url, "key-globex")
    # Given tenant A's burst of 200 jobs is queued first
    with ThreadPoolExecutor(16) as pool:
        burst = list(pool.map(lambda i: acme.submit(chat_body(f"burst {i}")), range(200)))
    # When tenant B submits 5
    small = [globex.submit(chat_body(f"small {i}")) for i in range(5)]
    small_jobs = [globex.wait_final(j["id"], timeout=60, callback=False) for j in small]
    burst_jobs = [acme.wait_final(j["id"], timeout=170, callback=False) for j in burst]
    # Then B's jobs finish before A's last ones, and B waits less than A's typical job
    assert max(j["finished_at"] for j in small_jobs) < max(j["finished_at"] for j in burst_jobs)
    assert max(map(_wait, small_jobs)) < statistics.median(map(_wait, burst_jobs))
    # And the cap held: A never ran more than 3 at once.
    assert max(_overlap(burst_jobs)) <= 3


def _wait(job: dict[str, Any]) -> float:
    def stamp(value: str) -> float:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    return stamp(job["started_at"]) - stamp(job["created_at"])


def _overlap(jobs: list[dict[str, Any]]) -> list[int]:
    spans = [(j["started_at"], j["finished_at"]) for j in jobs]
    return [sum(1 for s, f in spans if s <= start < f) for start, _ in spans]


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbitmq_up(), reason="no RabbitMQ on 127.0.0.1:5672 on this machine")
def test_rabbitmq_broker_end_to_end() -> None:
    env = {**TEST_ENV, "MQ_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}
    local = launch(env=env, workers=1)
    try:
        api = Api(local.api.url, "key-acme")
        job = api.submit(chat_body("through rabbitmq", local.receiver.url + "/hooks"))
        final = api.wait_final(job["id"], timeout=60)
        assert final["status"] == "succeeded"
        assert final["callback"]["status"] == "delivered"
    finally:
        local.stop()


#: Tokens per minute for the TPM test: about 100 tokens a second, four small jobs.
TPM = 6000


def test_a_tokens_per_minute_limit_holds_within_5_percent() -> None:
    env = {**TEST_ENV, "MQ_RATE_LIMIT_TPM": str(TPM)}
    local = launch(env=env, workers=2, concurrency=8)
    try:
        api = Api(local.api.url, "key-acme")
        jobs = [
            api.submit(chat_body(f"count my tokens please {i}", max_tokens=40)) for i in range(40)
        ]
        finals = {j["id"]: api.wait_final(j["id"], timeout=90, callback=False) for j in jobs}
        calls = {
            c["request_id"].split(":")[0]: c["time"]
            for c in _calls(local)
            if c["status"] == 200 and c["request_id"]
        }
    finally:
        local.stop()
    timeline = sorted(
        (calls[job_id], final["result"]["usage"]["total_tokens"])
        for job_id, final in finals.items()
    )
    span = timeline[-1][0] - timeline[0][0]
    # "Pay after": each call's tokens are owed before the next may go, so all but the last
    # call's tokens must fit in the span at the configured rate (plus 5%).
    spent = sum(tokens for _, tokens in timeline[:-1])
    assert spent <= TPM / 60 * span * 1.05, (spent, span)
