"""A Celery app for test_fast_publish: our worker settings plus two tasks that leave traces.

Run as ``celery -A tests.integration.fastpub_app worker``; the broker is ``MQ_REDIS_URL``.
"""

from __future__ import annotations

import functools
from typing import Any

import redis
from celery import Task

from mistral_queue.broker.celery_config import create_celery
from mistral_queue.config import load_settings

#: The queue the tests publish to, so no job task is involved.
QUEUE = "fastpub"
#: List of ``"<task id> <token>"`` for each task that ran to its end.
DONE = "fastpub:done"

app = create_celery(load_settings(), include_tasks=False)


@functools.cache
def _redis() -> redis.Redis:
    # Made on first use in the worker, so importing this module connects nowhere.
    return redis.Redis.from_url(app.conf.broker_url)


def tries_key(task_id: str) -> str:
    """Counter of the runs of one ``flaky`` task."""
    return f"fastpub:tries:{task_id}"


@app.task(name="fastpub.record", bind=True)
def record(self: Task[Any, Any], token: str) -> None:
    """Note that the task ran, with its argument."""
    _redis().rpush(DONE, f"{self.request.id} {token}")


@app.task(name="fastpub.flaky", bind=True, max_retries=3)
def flaky(self: Task[Any, Any], token: str) -> None:
    """Fail the first run with a Celery retry, then note that it ran."""
    if _redis().incr(tries_key(str(self.request.id))) == 1:
        raise self.retry(countdown=0.2)
    _redis().rpush(DONE, f"{self.request.id} {token}")
