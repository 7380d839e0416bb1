"""Workers on Celery's gevent pool (``mistral-queue worker --pool gevent``): every job kind,
streaming, cancel, SIGKILL recovery (leases and the sweep) and the limiter across two workers.

Each worker is a real subprocess started by the CLI, which must monkey-patch before anything
imports sockets (``mistral_queue/green.py``); an unpatched gevent worker takes messages and
runs none, so every test here would time out without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.jobs import keys
from tests.conftest import TEST_ENV
from tests.faults.support import received, webhook_id
from tests.helpers import Api, chat_body, emulator_calls, raw_receiver, wait_for
from tests.integration.agent_support import tool_server, weather_job
from tests.integration.batch_support import batch_body, requests_of
from tests.integration.test_events_api import emulator_faults, sse, streaming_job
from tests.integration.test_scaling import _calls, _max_in_any_second, _overlap

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GEVENT = ("--pool", "gevent")
#: A touchy watchdog: it must not take a busy gevent worker for a stalled one.
ENV = {**TEST_ENV, "MQ_CONSUMER_STALL_SECONDS": "6"}


def _no_stall(local: LocalStack) -> None:
    for proc in local.workers:
        log = proc.log_path.read_text(errors="replace")
        assert "consumer stalled" not in log, proc.log_tail()
        assert proc.alive(), proc.log_tail()


#: Chat jobs queued before the gevent worker starts, each taking ``SLOW_MS`` upstream.
PRELOADED = 100
SLOW_MS = 1000


@dataclass
class Green:
    """A deployment with one gevent worker of 200 greenlets, and the jobs queued before it."""

    local: LocalStack
    api: Api
    preloaded: list[str]


@pytest.fixture(scope="module")
def green() -> Iterator[Green]:
    local = launch(env=ENV, workers=0)
    try:
        faults = f"{local.emulator.url}/_emulator/faults"
        httpx.post(faults, json={"latency_ms": SLOW_MS}).raise_for_status()
        api = Api(local.api.url, "key-acme")
        hook = local.receiver.url + "/hooks"
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda i: api.submit(chat_body(f"g{i}", hook)), range(PRELOADED)))
        local.start_worker(*GEVENT, concurrency=200)
        for job in jobs:
            api.wait_final(job["id"], timeout=90)
        httpx.post(faults, json={"latency_ms": 0}).raise_for_status()
        yield Green(local, api, [job["id"] for job in jobs])
        _no_stall(local)
    finally:
        local.stop()


def test_queued_chat_jobs_run_at_once_with_signed_callbacks(green: Green) -> None:
    # Given 100 chat jobs queued before the worker started, each taking 1 s upstream
    finals = [green.api.wait_final(job_id) for job_id in green.preloaded]
    # Then each succeeded, and its callback arrived with a valid signature (the receiver
    # verifies it) and the job's stable webhook-id
    assert {job["status"] for job in finals} == {"succeeded"}
    delivered = {event["webhook_id"] for event in received(green.local)}
    assert {webhook_id(job_id) for job_id in green.preloaded} <= delivered
    # And the one process held many calls at once (a worker that blocks its hub holds one)
    assert max(_overlap(finals)) >= 50


def test_streamed_chat_sends_deltas(green: Green) -> None:
    with emulator_faults(green.local, stream_chunk_delay_ms=5):
        job = streaming_job(green.api, "Stream this under gevent")
        frames = sse(green.api, f"/v1/jobs/{job['id']}/events")
    kinds = [f["event"] for f in frames]
    assert "job.delta" in kinds
    assert kinds[-1] == "job.succeeded"
    deltas = "".join(f["data"]["data"]["content"] for f in frames if f["event"] == "job.delta")
    final = green.api.wait_final(job["id"], callback=False)
    assert deltas == final["result"]["choices"][0]["message"]["content"]


def test_cancel_a_running_stream_stops_it(green: Green) -> None:
    with emulator_faults(green.local, stream_chunk_delay_ms=100):
        job = streaming_job(green.api)
        sse(green.api, f"/v1/jobs/{job['id']}/events", limit=3)
        response = httpx.post(
            f"{green.api.url}/v1/jobs/{job['id']}/cancel", headers=green.api.headers()
        )
        assert response.json()["status"] == "cancelled"
        frames = sse(green.api, f"/v1/jobs/{job['id']}/events")
    assert frames[-1]["event"] == "job.cancelled"
    assert "job.succeeded" not in [f["event"] for f in frames]


def test_agent_job_with_an_http_tool(green: Green) -> None:
    with tool_server('{"temp_c": 17}') as tools:
        job = green.api.submit(weather_job(tools.url))
        final = green.api.wait_final(job["id"], callback=False)
    assert final["status"] == "succeeded", final["error"]
    [request] = tools.received
    call = Webhook(signing_secret(green.local)).verify(request.body, request.headers)
    assert call["type"] == "tool.call"
    answer = final["result"]["outputs"][-1]["content"]
    assert 'The get_weather tool returned: {"temp_c": 17}' in answer


def test_direct_batch_retries_and_keeps_every_line(green: Green) -> None:
    marks = {3: " [[fault:503]]", 8: " [[fault:400]]"}
    body = batch_body(requests_of(20, "green", marks), mode="direct")
    job = green.api.submit(body)
    final = green.api.wait_final(job["id"], timeout=60, callback=False)
    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["succeeded"] == 19 and final["result"]["failed"] == 1
    assert len(emulator_calls(green.local.emulator.url, job["id"])) == 21


#: The limit both the emulator and our limiter enforce in the two-worker deployment.
RPS = 10


@pytest.fixture(scope="module")
def pair() -> Iterator[LocalStack]:
    """Two gevent workers under one limit of RPS requests per second (a 150 ms window margin
    for this shared machine's jitter, as in test_scaling.py)."""
    env = {**ENV, "MQ_RATE_LIMIT_RPS": str(RPS), "MQ_RATE_LIMIT_MARGIN": "0.15"}
    local = launch(env=env, workers=0, emulator_args=["--rps-limit", str(RPS)])
    for _ in range(2):
        local.start_worker(*GEVENT, concurrency=100)
    yield local
    _no_stall(local)
    local.stop()


def test_two_gevent_workers_share_one_limit(pair: LocalStack) -> None:
    api = Api(pair.api.url, "key-acme")
    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(lambda i: api.submit(chat_body(f"pair {i}")), range(6 * RPS)))
    for job in jobs:
        assert api.wait_final(job["id"], timeout=90, callback=False)["status"] == "succeeded"
    calls = _calls(pair)
    assert [c["status"] for c in calls].count(429) == 0
    assert _max_in_any_second([c["time"] for c in calls]) <= RPS
    # And both workers took part
    for proc in pair.workers:
        assert "succeeded in" in proc.log_path.read_text(errors="replace"), proc.name


def test_a_sigkilled_gevent_worker_s_jobs_end_elsewhere(pair: LocalStack) -> None:
    api = Api(pair.api.url, "key-acme")
    client = redis.Redis.from_url(pair.redis.url, decode_responses=True)
    httpx.post(f"{pair.emulator.url}/_emulator/reset")
    with emulator_faults(pair, latency_ms=3000), raw_receiver() as receiver:
        # Given jobs running (upstream call in flight) on both workers
        jobs = [api.submit(chat_body(f"kill {i}", receiver.url)) for i in range(8)]
        running = lambda: all(api.job(j["id"])["status"] == "running" for j in jobs)  # noqa: E731
        wait_for(running, 30, "every job to be running")
        # When one worker is SIGKILLed and the other goes on
        victim = pair.workers.pop(0)
        victim.kill()
        finals = [api.wait_final(j["id"], timeout=90) for j in jobs]
        # Then every job succeeded once with its callback
        assert {f["status"] for f in finals} == {"succeeded"}
        for job in finals:
            assert len(receiver.for_job(job["id"])) >= 1
    requeued = [f["id"] for f in finals if client.hget(keys.job(f["id"]), "requeues")]
    assert requeued, "the killed worker's jobs were not taken over by the sweep"
    pair.start_worker(*GEVENT, concurrency=100)
