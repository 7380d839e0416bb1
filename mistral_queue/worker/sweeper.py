"""The recovery sweep: finds lost jobs and due callbacks and publishes them again.

Every worker process runs a sweeper thread; a Redis lock elects one leader at a time, so the
sweep runs once per interval for the whole deployment and survives any worker's death.
Without it a job whose broker message is lost stays lost; with it, none does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from mistral_queue.broker import dispatch
from mistral_queue.jobs import changes, fields, keys
from mistral_queue.jobs.errors import JobError
from mistral_queue.jobs.model import JobRecord, JobStatus
from mistral_queue.jobs.rerun import run_task_id
from mistral_queue.tasks.runtime import Runtime
from mistral_queue.worker.leader import lead

log = logging.getLogger(__name__)

#: Most entries of each kind handled per sweep, so one sweep stays short.
BATCH = 500
#: Cap of the requeue backoff exponent: a job lost again and again is published at most
#: every ``requeue_after_seconds * 2**MAX_BACKOFF`` seconds.
MAX_BACKOFF = 5
#: Statuses the scheduler holds back from the broker (``worker/scheduler.py``).
HELD = frozenset({JobStatus.SCHEDULED, JobStatus.WAITING})


@dataclass
class SweepReport:
    """What one sweep did."""

    requeued: int = 0
    expired: int = 0
    callbacks: int = 0


class Sweeper:
    """Requeues jobs that nobody runs and callbacks that nobody sends."""

    def __init__(self, app: Celery, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the sweep in a daemon thread every ``sweep_interval`` seconds."""
        self._thread = threading.Thread(target=self._loop, name="mq-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current sweep."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.rt.settings.sweep_interval):
            try:
                if self._lead():
                    self.sweep()
            except (redis.RedisError, OSError, OperationalError) as exc:
                log.warning("sweep skipped: %s", exc)
            except Exception:
                # The thread must outlive any one bad sweep, or recovery stops for good.
                log.exception("sweep failed")

    def _lead(self) -> bool:
        ttl = int(self.rt.settings.sweep_interval * 3000)
        return lead(self.rt.redis, keys.SWEEP_LEADER, self.node, ttl)

    def sweep(self, now: float | None = None) -> SweepReport:
        """One pass over due callbacks and watched jobs."""
        now = time.time() if now is None else now
        report = SweepReport()
        report.callbacks = self._callbacks(now)
        for job_id in self.rt.redis.zrangebyscore(keys.JOBS_WATCH, "-inf", now, 0, BATCH):
            self._check_job(str(job_id), now, report)
        if report.requeued or report.expired or report.callbacks:
            log.info("sweep: %s", report)
        return report

    def _callbacks(self, now: float) -> int:
        client = self.rt.redis
        settings = self.rt.settings
        grace = settings.callback_requeue_after_seconds
        due = client.zrangebyscore(keys.CALLBACKS_DUE, "-inf", now - grace, 0, BATCH)
        for job_id in map(str, due):
            # Claim it for one delivery's time, so the next sweep does not send it again;
            # the task itself goes by the job's callback fields, not by this score.
            claim = now + 2 * settings.callback_timeout + grace
            client.zadd(keys.CALLBACKS_DUE, {job_id: claim}, xx=True)
            dispatch.deliver_callback(self.app, job_id)
        return len(due)

    def _check_job(self, job_id: str, now: float, report: SweepReport) -> None:
        record = self.rt.store.get(job_id)
        if record is None or record.is_final:
            self.rt.redis.zrem(keys.JOBS_WATCH, job_id)
        elif record.deadline is not None and now > record.deadline:
            self._expire(record)
            report.expired += 1
        elif record.status in HELD:
            # The scheduler releases these; the sweep looks again once they could be queued.
            self._watch(job_id, now + self.rt.settings.requeue_after_seconds)
        elif self.rt.leases.is_held(job_id):
            self._watch(job_id, now + 3 * self.rt.settings.lease_seconds)
        elif record.status == JobStatus.REQUIRES_ACTION:
            report.expired += self._await_action(record, now)
        elif self._requeue(record, now):
            report.requeued += 1

    def _await_action(self, record: JobRecord, now: float) -> int:
        """Fail a job that waited for tool results past its ``respond_by``; 1 if it did."""
        raw = self.rt.redis.hget(keys.job(record.id), fields.RESPOND_BY)
        later = record.deadline or now + self.rt.settings.requeue_after_seconds
        respond_by = float(raw) if raw else later
        if now < respond_by:
            self._watch(record.id, min(respond_by, later))
            return 0
        change = changes.action_timeout(self.rt.settings.requires_action_timeout_seconds)
        try:
            self.rt.store.apply(record.id, record.tenant, change)
        except JobError:
            return 0
        log.warning("job %s got no tool results in time: failed", record.id)
        dispatch.deliver_callback(self.app, record.id)
        return 1

    def _watch(self, job_id: str, at: float) -> None:
        self.rt.redis.zadd(keys.JOBS_WATCH, {job_id: at}, xx=True)

    def _requeue(self, record: JobRecord, now: float) -> bool:
        """Publish the job again, recording it first (so a job that moved on is left alone)."""
        count = int(self.rt.redis.hget(keys.job(record.id), fields.REQUEUES) or 0) + 1
        backoff = self.rt.settings.requeue_after_seconds * 2 ** min(count - 1, MAX_BACKOFF)
        change = changes.requeued(count=count, status=record.status, watch_until=now + backoff)
        try:
            self.rt.store.apply(record.id, record.tenant, change)
        except JobError:
            return False
        kind = record.job.type
        log.warning(
            "job %s is %s with no worker on it: publishing it again (#%d)",
            record.id,
            record.status,
            count,
        )
        dispatch.run_job(self.app, kind, record.id, run_task_id(record.id, record.job.retries))
        return True

    def _expire(self, record: JobRecord) -> None:
        change = changes.expire(self.rt.settings.job_deadline_seconds)
        try:
            self.rt.store.apply(record.id, record.tenant, change)
        except JobError:
            return
        dispatch.deliver_callback(self.app, record.id)
