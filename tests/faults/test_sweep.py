"""The recovery sweep: a job whose broker message is gone is run again, and a job past its
deadline fails with a clear error and a callback (issue 8 § Sweep, § Timeouts)."""

from __future__ import annotations

import json
import time

import pytest

from mistral_queue.jobs import keys
from tests.faults.support import (
    api_of,
    fault_stack,
    received,
    redis_client,
    upstream_calls,
    wait_settled,
    webhook_id,
)
from tests.helpers import chat_body, events, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_a_job_whose_message_was_deleted_is_run_by_the_sweep() -> None:
    with fault_stack(workers=0) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given an accepted job whose broker message is deleted before any worker sees it
        job = api.submit(chat_body("lost message", stack.receiver.url))
        assert client.llen("chat") == 1
        message = json.loads(client.lindex("chat", 0) or "{}")
        assert message["headers"]["id"] == job["id"]
        client.delete("chat")

        # When a worker (and with it the sweep) runs
        stack.start_worker(concurrency=2)
        final = wait_settled(client, [job["id"]], timeout=30)[job["id"]]

        # Then the sweep published it again and it ran once, with its callback
        assert final["status"] == "succeeded"
        assert final["callback_status"] == "delivered"
        log = [e["type"] for e in events(client, job["id"])]
        assert log.index("job.requeued") < log.index("job.started") < log.index("job.succeeded")
        assert int(final["requeues"]) >= 1
        assert len(upstream_calls(stack)[job["id"]]) == 1


def test_a_job_past_its_deadline_fails_with_a_callback_and_stays_failed() -> None:
    with fault_stack(workers=1, concurrency=2) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given a job whose upstream call hangs for 4 s
        job = api.submit(chat_body("slow [[fault:latency=4000]]", stack.receiver.url))
        job_id = job["id"]
        wait_for(lambda: api.job(job_id)["status"] == "running", 10, "the job to start")

        # When its deadline passes while it runs (moved by hand; the sweep looks at once)
        client.hset(keys.job(job_id), "deadline", repr(time.time()))
        client.zadd(keys.JOBS_WATCH, {job_id: time.time()})
        final = wait_settled(client, [job_id], timeout=10)[job_id]

        # Then it fails with a clear error, and its job.failed callback is delivered
        assert final["status"] == "failed"
        assert json.loads(final["error"])["type"] == "deadline_exceeded"
        assert final["callback_status"] == "delivered"
        assert webhook_id(job_id, "job.failed") in {e["webhook_id"] for e in received(stack)}

        # And the late upstream answer changes nothing
        wait_for(lambda: upstream_calls(stack).get(job_id), 10, "the upstream call to end")
        wait_for(lambda: not client.exists(keys.job_lease(job_id)), 10, "the worker to let go")
        assert api.job(job_id)["status"] == "failed"
        hooks = [e for e in received(stack) if e["body"]["data"]["id"] == job_id]
        assert len(hooks) == 1
