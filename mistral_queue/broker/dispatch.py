"""Every task send in the system: one function per kind of send, the only Celery publisher.

Workers and the sweep call the functions below with their Celery app; the asyncio API uses
:class:`Publisher`, which writes the same messages through the fast path
(:mod:`mistral_queue.broker.fast_publish`) on a Redis broker and falls back to ``send_task``
in a worker thread otherwise. Task ids, queues and countdowns are decided here and nowhere
else, so a reader can see in one file what each send puts on the broker.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from celery import Celery

from mistral_queue import tracing
from mistral_queue.broker import fast_publish
from mistral_queue.broker.celery_config import create_celery
from mistral_queue.broker.names import (
    BATCH_CANCEL,
    BATCH_POLL,
    BATCH_REQUEST,
    BATCH_REQUESTS_QUEUE,
    CALLBACKS_QUEUE,
    DELIVER_CALLBACK,
    DELIVER_TO_ENDPOINT,
    FAN_OUT_TO_ENDPOINTS,
    QUEUES,
    RUN_TASKS,
)
from mistral_queue.config import Settings
from mistral_queue.jobs.model import JobType

#: Bounded publish retries, so a broker outage answers 503 within about a second.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}


def run_job(app: Celery, kind: JobType, job_id: str, task_id: str | None = None) -> None:
    """Publish the task that runs ``job_id``; the task id is the job id, so a revoke finds it
    (a retried run has its own, ``jobs.rerun.run_task_id``: a cancel revoked the first)."""
    app.send_task(RUN_TASKS[kind], args=[job_id], task_id=task_id or job_id, queue=QUEUES[kind])


def deliver_callback(
    app: Celery, job_id: str, countdown: float | None = None, busy: int = 0
) -> None:
    """Publish the delivery of a job's pending callback, ``countdown`` seconds from now.

    ``busy``: how many times in a row it found no delivery slot (``tasks.callback_slots``).
    """
    kwargs = {"busy": busy} if busy else None
    app.send_task(DELIVER_CALLBACK, args=[job_id], kwargs=kwargs, queue=CALLBACKS_QUEUE,
                  countdown=countdown)  # fmt: skip


def deliver_to_endpoint(
    app: Celery, endpoint_id: str, job_id: str, event: str, countdown: float = 0.0,
    busy: int = 0,
) -> None:  # fmt: skip
    """Publish one delivery of a job's ``event`` to a registered endpoint on the callbacks queue.

    ``busy``: how many times in a row it found no delivery slot (``tasks.callback_slots``).
    """
    app.send_task(DELIVER_TO_ENDPOINT, args=[endpoint_id, job_id, event],
                  kwargs={"busy": busy} if busy else None, queue=CALLBACKS_QUEUE,
                  countdown=countdown)  # fmt: skip


def poll_batch(app: Celery, job_id: str, seq: int, countdown: float) -> None:
    """Publish poll number ``seq`` of a batch job's Mistral batch, ``countdown`` seconds out."""
    app.send_task(BATCH_POLL, args=[job_id, seq], countdown=countdown,
                  queue=QUEUES[JobType.BATCH], add_to_parent=False)  # fmt: skip


def request_positions(app: Celery, job_id: str, positions: list[int], attempts: int = 0,
                      countdown: float | None = None, producer: Any = None) -> None:  # fmt: skip
    """Publish one direct-mode batch task for the requests at ``positions``.

    Args:
        app: The worker's Celery app.
        job_id: The batch job.
        positions: 0-based indexes into the job's requests.
        attempts: Upstream attempts already spent on these requests.
        countdown: Seconds to wait before the task runs (None: at once).
        producer: A kombu producer to reuse across a fan-out (None: one from the pool).
    """
    app.send_task(BATCH_REQUEST, args=[job_id, positions, attempts], countdown=countdown,
                  queue=BATCH_REQUESTS_QUEUE, producer=producer,
                  add_to_parent=False)  # fmt: skip


class Publisher:
    """The API's sends: the fast path on Redis brokers, a producer-only Celery app else."""

    def __init__(self, settings: Settings) -> None:
        self.app: Celery = create_celery(settings, include_tasks=False)
        # Looked up on the module so bench/variants.py can turn the fast path off.
        db = fast_publish.fast_path_db(self.app)
        self.fast = None if db is None else fast_publish.FastPublisher(self.app, db)

    async def run_job(self, job_type: JobType, job_id: str, task_id: str | None = None) -> None:
        """Publish the task that runs ``job_id``; returns once the broker has the message.

        ``task_id`` defaults to the job id (a retried run has its own: ``jobs.rerun``).

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable (``send_task``).
            redis.RedisError: the broker is unreachable (fast path).
        """
        tid = task_id or job_id
        await self._send(RUN_TASKS[job_type], [job_id], QUEUES[job_type], task_id=tid)

    async def run_jobs(self, jobs: Sequence[tuple[JobType, str]]) -> None:
        """Publish the tasks of ``(type, job id)`` pairs, pipelined on the fast path."""
        if self.fast is None:
            for job_type, job_id in jobs:
                await self.run_job(job_type, job_id)
            return
        await self.fast.send_many([(RUN_TASKS[t], [i], QUEUES[t], i, None) for t, i in jobs])

    async def deliver_callback(self, job_id: str) -> None:
        """Publish the delivery of ``job_id``'s pending callback."""
        await self._send(DELIVER_CALLBACK, [job_id], CALLBACKS_QUEUE)

    async def deliver_to_endpoint(self, endpoint_id: str, job_id: str, event: str) -> None:
        """Publish one delivery of ``job_id``'s ``event`` to a registered endpoint."""
        await self._send(DELIVER_TO_ENDPOINT, [endpoint_id, job_id, event], CALLBACKS_QUEUE)

    async def fan_out_to_endpoints(self, job_id: str, tenant: str) -> None:
        """Publish the fan-out of ``job_id``'s current event to its tenant's endpoints."""
        await self._send(FAN_OUT_TO_ENDPOINTS, [job_id, tenant], CALLBACKS_QUEUE)

    async def cancel_batch(self, job_id: str) -> None:
        """Publish the cancel of a cancelled batch job's Mistral batch job."""
        await self._send(BATCH_CANCEL, [job_id], QUEUES[JobType.BATCH])

    async def _send(
        self, name: str, args: list[Any], queue: str, task_id: str | None = None
    ) -> None:
        # The trace context travels in the message headers (workers' Celery instrumentation
        # adds it to their own sends).
        with tracing.publish_span(name, queue, str(args[0])) as headers:
            if self.fast is not None:
                await self.fast.send(name, args, queue, task_id, headers)
                return
            send = functools.partial(self.app.send_task, name, args=args, task_id=task_id,
                                     queue=queue, retry_policy=PUBLISH_RETRY,
                                     headers=headers or None)  # fmt: skip
            await anyio.to_thread.run_sync(send)

    async def revoke(self, job_id: str) -> None:
        """Tell every worker to drop the job's pending message (best effort)."""
        await anyio.to_thread.run_sync(functools.partial(self.app.control.revoke, job_id))

    async def ping(self) -> None:
        """Check the broker connection.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
            redis.RedisError: the broker is unreachable (fast path).
        """
        if self.fast is not None:
            await self.fast.redis.ping()
            return

        def check() -> None:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)

        await anyio.to_thread.run_sync(check)

    async def aclose(self) -> None:
        """Release the broker connections, the fast path's included."""
        self.app.close()
        if self.fast is not None:
            await self.fast.aclose()
