"""The same Celery message delivered more than once: one upstream call, one callback
(issue 8 § Duplicate delivery)."""

from __future__ import annotations

import pytest

from mistral_queue.broker.celery_config import create_celery
from mistral_queue.broker.names import QUEUES, RUN_TASKS
from mistral_queue.config import load_settings
from mistral_queue.dev.stack import LocalStack
from mistral_queue.jobs.model import JobType
from tests.faults.support import (
    api_of,
    fault_stack,
    received,
    redis_client,
    upstream_calls,
    wait_settled,
)
from tests.helpers import chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

QUEUE = QUEUES[JobType.CHAT]


def broker_idle(stack: LocalStack) -> bool:
    """No message waits in the chat queue and none is delivered but unacknowledged."""
    client = redis_client(stack)
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


def publish_again(stack: LocalStack, job_id: str) -> None:
    """Publish the job's task by hand, as the API does (same task id)."""
    app = create_celery(load_settings(redis_url=stack.redis.url), include_tasks=False)
    try:
        app.send_task(RUN_TASKS[JobType.CHAT], args=[job_id], task_id=job_id, queue=QUEUE)
    finally:
        app.close()


def test_a_message_delivered_twice_calls_upstream_once_and_calls_back_once() -> None:
    with fault_stack(workers=0) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given a job whose message is in the queue twice (byte for byte, as a broker
        # redelivers it), and whose upstream call takes long enough for both to overlap
        job = api.submit(chat_body("twice [[fault:latency=800]]", stack.receiver.url))
        job_id = job["id"]
        client.rpush(QUEUE, client.lindex(QUEUE, 0) or "")
        assert client.llen(QUEUE) == 2

        # When two workers take one copy each
        stack.start_worker(concurrency=2)
        stack.start_worker(concurrency=2)
        wait_settled(client, [job_id], timeout=30)
        wait_for(lambda: broker_idle(stack), 20, "both copies to be consumed")

        # And a third copy is published after the job ended
        publish_again(stack, job_id)
        wait_for(lambda: broker_idle(stack), 20, "the late copy to be consumed")

        # Then upstream was called once and the receiver got one callback
        assert len(upstream_calls(stack)[job_id]) == 1
        hooks = [e for e in received(stack) if e["body"]["data"]["id"] == job_id]
        assert len(hooks) == 1
        final = api.job(job_id)
        assert final["status"] == "succeeded"
        assert final["attempts"] == 1
        assert final["callback"]["attempts"] == 1
