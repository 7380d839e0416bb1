"""A worker SIGKILLed mid-batch: another worker picks the batch up; it ends and calls back once.

These tests run on their own stack (slow emulator batches, small worker pools) so that
killing its only worker does not disturb the session stack.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.jobs import keys
from tests.conftest import TEST_ENV
from tests.helpers import Api, events, raw_receiver, wait_for
from tests.integration.batch_support import batch_body, progress_events, requests_of, results

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def slow_stack() -> Iterator[LocalStack]:
    """A stack whose emulator runs batch jobs at 0.5 s per 100 lines and answers in 50 ms."""
    emulator = ["--batch-pace-seconds", "0.5", "--latency-ms", "50"]
    local = launch(env=TEST_ENV, workers=1, concurrency=4, emulator_args=emulator)
    yield local
    local.stop()


@pytest.fixture(scope="module")
def slow_redis(slow_stack: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(slow_stack.redis.url, decode_responses=True)
    yield client
    client.close()


def _replace_worker(local: LocalStack) -> None:
    """SIGKILL the running worker, then start another one."""
    live = [w for w in local.workers if w.alive()]
    assert len(live) == 1
    live[0].kill()
    local.start_worker(concurrency=4)


def test_polling_resumes_on_another_worker(slow_stack: LocalStack, slow_redis: redis.Redis) -> None:
    api = Api(slow_stack.api.url, "key-acme")
    with raw_receiver() as receiver:
        # Given an api-mode batch that Mistral runs for about ten seconds
        job = api.submit(batch_body(requests_of(2000), mode="api", callback_url=receiver.url))
        wait_for(
            lambda: any(
                p["mistral_status"] == "RUNNING" for p in progress_events(slow_redis, job["id"])
            ),
            30,
            "polling to see RUNNING",
        )

        # When the worker that polls it is killed and another one starts
        _replace_worker(slow_stack)

        # Then polling resumes there and the batch ends with all its results
        final = api.wait_final(job["id"], timeout=90)
        time.sleep(2.0)
        captured = receiver.for_job(job["id"])

    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["succeeded"] == 2000
    assert len(results(api, job["id"])) == 2000
    types = [e["type"] for e in events(slow_redis, job["id"])]
    assert "job.requeued" in types
    assert types.count("job.succeeded") == 1
    # And the callback fired exactly once
    assert len(captured) == 1


def test_direct_fan_out_finishes_once_after_a_worker_dies(
    slow_stack: LocalStack, slow_redis: redis.Redis
) -> None:
    api = Api(slow_stack.api.url, "key-acme")
    with raw_receiver() as receiver:
        # Given a direct batch of 600 calls of 50 ms on four threads
        job = api.submit(batch_body(requests_of(600), mode="direct", callback_url=receiver.url))
        key = keys.batch_results(job["id"])
        wait_for(lambda: slow_redis.hlen(key) >= 50, 30, "the first results")

        # When its worker is killed mid-way and another one starts
        _replace_worker(slow_stack)

        # Then every request gets its result and the job finishes once
        final = api.wait_final(job["id"], timeout=120)
        time.sleep(2.0)
        captured = receiver.for_job(job["id"])

    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["succeeded"] == 600 and final["result"]["failed"] == 0
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(600)]
    types = [e["type"] for e in events(slow_redis, job["id"])]
    # (the requests the dead worker held were published again after the sweep noticed)
    assert "job.requeued" in types
    assert types.count("job.succeeded") == 1
    assert len(captured) == 1
