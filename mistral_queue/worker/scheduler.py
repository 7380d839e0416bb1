"""The scheduler: queues due delayed jobs and jobs whose dependencies succeeded, and fires
recurring schedules (``worker/firing.py``).

docs/scheduling.md. Delayed jobs wait in ``keys.JOBS_DUE``; jobs with ``depends_on`` in
``keys.JOBS_WAITING``, checked every ``RECHECK_SECONDS`` (``jobs/dependencies.py``).

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

from mistral_queue.broker import dispatch
from mistral_queue.jobs import changes, delayed, keys
from mistral_queue.jobs import dependencies as deps
from mistral_queue.jobs.errors import JobError
from mistral_queue.jobs.model import JobRecord, JobStatus
from mistral_queue.tasks.runtime import Runtime
from mistral_queue.worker.firing import Firing
from mistral_queue.worker.leader import lead

log = logging.getLogger(__name__)

#: Most due jobs promoted per pass, so one pass stays short (the next one follows at once).
BATCH = 500
#: Shortest leader lock, ms: long enough to ride out a pause of the leader under load.
MIN_LOCK_MS = 2000
#: Seconds between two checks of a waiting job's dependencies.
RECHECK_SECONDS = 0.5


class Scheduler:
    """Moves jobs whose time has come from Redis to the broker."""

    def __init__(self, app: Celery, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.firing = Firing(rt, lambda kind, job_id: dispatch.run_job(app, kind, job_id))

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
        return self.promote_due(now) + self.release_waiting(now) + self.firing.fire_due(now)

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
        dispatch.run_job(self.app, record.job.type, job_id)
        return True

    def release_waiting(self, now: float) -> int:
        """Check the waiting jobs due for a check; queue or fail those whose time has come."""
        client = self.rt.redis
        ids = client.zrangebyscore(keys.JOBS_WAITING, "-inf", now, 0, BATCH)
        released = 0
        for job_id in map(str, ids):
            record = self.rt.store.get(job_id)
            if record is None or record.status != JobStatus.WAITING:
                client.zrem(keys.JOBS_WAITING, job_id)
            elif self._settle(record, now):
                released += 1
        return released

    def _settle(self, record: JobRecord, now: float) -> bool:
        """Queue ``record`` if its dependencies succeeded (True), fail it if one cannot."""
        depends_on = record.job.depends_on or []
        pipe = self.rt.redis.pipeline(transaction=False)
        for dep in depends_on:
            pipe.hget(keys.job(dep), "status")
        found = pipe.execute()
        statuses = {d: JobStatus(s) if s else None for d, s in zip(depends_on, found, strict=True)}
        cause = deps.blocked(statuses)
        if cause is not None:
            self._fail(record, deps.failed_error(record, cause))
            return False
        if any(s != JobStatus.SUCCEEDED for s in statuses.values()):
            self.rt.redis.zadd(keys.JOBS_WAITING, {record.id: now + RECHECK_SECONDS}, xx=True)
            return False
        return self._release(record, now)

    def _release(self, record: JobRecord, now: float) -> bool:
        """Resolve the references of ``record`` and queue it (a pointer into nothing fails it)."""
        try:
            views = self._views([ref["$from"] for _, ref in deps.refs(record.job.request)])
            request = deps.resolve(record.job.request, views)
        except deps.ReferenceError as exc:
            self._fail(record, deps.failed_error(record, exc))
            return False
        change = deps.release(request, watch_until=now + self.rt.settings.requeue_after_seconds)
        try:
            self.rt.store.apply(record.id, record.tenant, change)
        except JobError:
            return False
        finally:
            self.rt.redis.zrem(keys.JOBS_WAITING, record.id)
        dispatch.run_job(self.app, record.job.type, record.id)
        return True

    def _views(self, job_ids: list[str]) -> dict[str, dict[str, object]]:
        views: dict[str, dict[str, object]] = {}
        for job_id in set(job_ids):
            found = self.rt.store.get(job_id)
            if found is not None:
                views[job_id] = found.job.model_dump(mode="json")
        return views

    def _fail(self, record: JobRecord, error: dict[str, object]) -> None:
        try:
            self.rt.store.apply(record.id, record.tenant, changes.fail(dict(error)))
        except JobError:
            return
        finally:
            self.rt.redis.zrem(keys.JOBS_WAITING, record.id)
        log.info("job %s failed: %s", record.id, error["message"])
        if record.job.callback.url:
            dispatch.deliver_callback(self.app, record.id)
