"""Publishing job and callback tasks to the Celery broker from the asyncio API."""

from __future__ import annotations

import functools

import anyio.to_thread
from celery import Celery

from mistral_queue.config import Settings
from mistral_queue.jobs.model import JobType
from mistral_queue.jobs.routing import CALLBACKS_QUEUE, DELIVER_CALLBACK, QUEUES, RUN_TASKS
from mistral_queue.worker.app import create_celery

#: Bounded publish retries, so a broker outage answers 503 within about a second.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}


class Publisher:
    """Sends tasks by name through a producer-only Celery app."""

    def __init__(self, settings: Settings) -> None:
        self.app: Celery = create_celery(settings, include_tasks=False)

    async def run_job(self, job_type: JobType, job_id: str) -> None:
        """Publish the task that runs ``job_id``; returns once the broker has the message.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        send = functools.partial(
            self.app.send_task,
            RUN_TASKS[job_type],
            args=[job_id],
            task_id=job_id,
            queue=QUEUES[job_type],
            retry_policy=PUBLISH_RETRY,
        )
        await anyio.to_thread.run_sync(send)

    async def deliver_callback(self, job_id: str) -> None:
        """Publish the delivery of ``job_id``'s pending callback."""
        send = functools.partial(
            self.app.send_task,
            DELIVER_CALLBACK,
            args=[job_id],
            queue=CALLBACKS_QUEUE,
            retry_policy=PUBLISH_RETRY,
        )
        await anyio.to_thread.run_sync(send)

    async def revoke(self, job_id: str) -> None:
        """Tell every worker to drop the job's pending message (best effort)."""
        await anyio.to_thread.run_sync(functools.partial(self.app.control.revoke, job_id))

    async def ping(self) -> None:
        """Check the broker connection.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """

        def check() -> None:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)

        await anyio.to_thread.run_sync(check)

    def close(self) -> None:
        """Release the broker connections."""
        self.app.close()
