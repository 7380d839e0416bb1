"""The scheduler: promotes due delayed jobs and publishes them (docs/scheduling.md).

Every worker process runs a scheduler thread; a Redis lock elects one leader at a time, so
each pass runs once for the whole deployment and survives any worker's death (a new leader
takes over once the lock lapses). Everything it acts on is in Redis (``keys.JOBS_DUE``), so a
worker or Redis (AOF) restart loses nothing: a job due while no scheduler ran is promoted by
the next leader's first pass.

Each step is safe to repeat: the promotion is an atomic status change (``scheduled`` →
``queued``) that only one pass can win, and a queued job whose publish was lost is published
again by the recovery sweep (``worker/sweeper.py``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from mistral_queue.broker.names import QUEUES, RUN_TASKS
from mistral_queue.jobs import delayed, keys
from mistral_queue.jobs.errors import JobError
from mistral_queue.jobs.model import JobStatus, JobType
from mistral_queue.tasks.runtime import Runtime
from mistral_queue.worker.leader import lead

log = logging.getLogger(__name__)

#: Most due jobs promoted per pass, so one pass stays short (the next one follows at once).
BATCH = 500
#: Shortest leader lock, ms: long enough to ride out a pause of the leader under load.
MIN_LOCK_MS = 2000


def publish_job(app: Celery, kind: JobType, job_id: str) -> None:
    """Send the task that runs ``job_id`` (the one place the scheduler publishes)."""
    app.send_task(RUN_TASKS[kind], args=[job_id], task_id=job_id, queue=QUEUES[kind])


class Scheduler:
    """Moves jobs whose time has come from Redis to the broker."""

    def __init__(self, app: Celery, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run a pass every ``scheduler_interval`` seconds in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="mq-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current pass."""
        self._stop.set()

    def _loop(self) -> None:
        interval = self.rt.settings.scheduler_interval
        ttl = max(MIN_LOCK_MS, int(interval * 5000))
        while not self._stop.wait(interval):
            try:
                if lead(self.rt.redis, keys.SCHEDULER_LEADER, self.node, ttl):
                    self.tick()
            except (redis.RedisError, OSError, OperationalError) as exc:
                log.warning("scheduler pass skipped: %s", exc)
            except Exception:
                # The thread must outlive any one bad pass, or nothing due is ever run.
                log.exception("scheduler pass failed")

    def tick(self, now: float | None = None) -> int:
        """One pass; returns how many jobs it queued."""
        now = time.time() if now is None else now
        return self.promote_due(now)

    def promote_due(self, now: float) -> int:
        """Queue and publish every scheduled job due by ``now`` (up to ``BATCH``)."""
        client = self.rt.redis
        due: list[tuple[str, float]] = client.zrangebyscore(  # type: ignore[assignment]
            keys.JOBS_DUE, "-inf", now, 0, BATCH, withscores=True
        )
        promoted = 0
        for job_id, score in due:
            if self._promote(str(job_id), float(score), now):
                promoted += 1
            client.zrem(keys.JOBS_DUE, job_id)
        if promoted:
            log.info("scheduler: %d due job(s) queued", promoted)
        return promoted

    def _promote(self, job_id: str, due: float, now: float) -> bool:
        record = self.rt.store.get(job_id)
        if record is None or record.status != JobStatus.SCHEDULED:
            # Cancelled (or expired) meanwhile, or promoted by an earlier pass.
            return False
        watch = now + self.rt.settings.requeue_after_seconds
        try:
            self.rt.store.apply(job_id, record.tenant, delayed.promote(due=due, watch_until=watch))
        except JobError:
            return False
        publish_job(self.app, record.job.type, job_id)
        return True
