"""SIGTERM: running jobs finish within the grace period; past it the worker exits and hands
them back, so another worker finishes them (issue 8 § Graceful shutdown)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
import redis

from mistral_queue.jobs import keys
from tests.faults.support import api_of, fault_stack, redis_client, wait_settled
from tests.helpers import chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

GRACE = 3.0


def lease_taken(client: redis.Redis, job_id: str) -> Callable[[], bool]:
    """A check: some worker holds the job's lease."""
    return lambda: bool(client.exists(keys.job_lease(job_id)))


def test_sigterm_finishes_short_jobs_and_hands_back_long_ones() -> None:
    with fault_stack(workers=1, concurrency=4, MQ_SHUTDOWN_GRACE_SECONDS=str(GRACE)) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given one job that needs 1 s upstream and one that needs 30 s, both running
        short = api.submit(chat_body("short [[fault:latency=1000]]", stack.receiver.url))
        long = api.submit(chat_body("long [[fault:latency=30000]]", stack.receiver.url))
        for job_id in (short["id"], long["id"]):
            wait_for(lease_taken(client, job_id), 10, "both jobs to run")

        # When the worker gets SIGTERM
        worker = stack.workers.pop()
        termed = time.monotonic()
        worker.popen.send_signal(signal.SIGTERM)
        worker.popen.wait(GRACE + 10)
        waited = time.monotonic() - termed

        # Then the short job finished before the worker left, within the grace period...
        assert client.hget(keys.job(short["id"]), "status") == "succeeded"
        assert GRACE - 0.5 < waited < GRACE + 5
        # ...and the long one was handed back: its lease is gone and the sweep is due now
        assert client.hget(keys.job(long["id"]), "status") == "running"
        assert not client.exists(keys.job_lease(long["id"]))
        assert (client.zscore(keys.JOBS_WATCH, long["id"]) or 0) <= time.time()

        # And another worker runs it to the end (its upstream answer now comes at once)
        stack.start_worker(concurrency=2)
        final = wait_settled(client, [short["id"], long["id"]], timeout=30)
        assert {r["status"] for r in final.values()} == {"succeeded"}
        assert final[long["id"]]["attempts"] == "2"
