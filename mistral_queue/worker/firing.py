"""Firing recurring schedules: one ordinary job per tick (``jobs/schedule.py``).

Run by the scheduler's leader each pass. A tick's job is created under the tick's idempotency
key first and the tick claimed second, so a crash in between, a second leader, or a Redis
restart never makes two jobs of one tick; a queued job whose publish was lost is published by
the recovery sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from redis.commands.core import Script

from mistral_queue.jobs import keys
from mistral_queue.jobs import schedule as sched
from mistral_queue.jobs.model import JobStatus, JobType, initial_fields, iso, new_job_id
from mistral_queue.jobs.store import NewJob
from mistral_queue.tasks.runtime import Runtime

log = logging.getLogger(__name__)

#: Most schedules fired per pass.
BATCH = 500

#: Publishes the task of a new queued job: ``(type, job id)``.
Publish = Callable[[JobType, str], None]


class Firing:
    """Fires due schedule ticks from one worker process."""

    def __init__(self, rt: Runtime, publish: Publish) -> None:
        self.rt = rt
        self.publish = publish
        self._claim: Script = rt.redis.register_script(sched.CLAIM)

    def fire_due(self, now: float) -> int:
        """Fire every schedule whose tick is due by ``now``; returns the jobs made."""
        client = self.rt.redis
        due: list[tuple[str, float]] = client.zrangebyscore(  # type: ignore[assignment]
            keys.SCHEDULES_DUE, "-inf", now, 0, BATCH, withscores=True
        )
        fired = 0
        for schedule_id, tick in due:
            raw: dict[str, str] = client.hgetall(keys.schedule(schedule_id))  # type: ignore[assignment]
            if not raw or raw.get("paused") == "1":
                client.zrem(keys.SCHEDULES_DUE, schedule_id)
                continue
            fired += self._fire(raw, float(tick), now)
        return fired

    def _fire(self, raw: dict[str, str], tick: float, now: float) -> int:
        schedule_id = raw["id"]
        job_id = self._job(raw, tick, now)
        following = sched.next_tick(raw, now, tick)
        skipped = sched.missed(raw, tick, now)
        claimed = self._claim(
            keys=[keys.SCHEDULES_DUE, keys.schedule(schedule_id)],
            args=[schedule_id, repr(tick), repr(following), job_id, skipped],
        )
        if skipped:
            log.warning("schedule %s: %d missed tick(s) skipped", schedule_id, skipped)
        return 1 if claimed else 0

    def _job(self, raw: dict[str, str], tick: float, now: float) -> str:
        """Create (or find, after a crash) the job of ``tick``; returns its id."""
        settings = self.rt.settings
        body = orjson.loads(raw["job"])
        job_type = JobType(body["type"])
        metadata = {
            **body.get("metadata", {}),
            "schedule_id": raw["id"],
            "scheduled_for": iso(tick),
        }
        job_id = new_job_id()
        fields = initial_fields(
            job_id=job_id,
            tenant=raw["tenant"],
            job_type=job_type,
            request=body["request"],
            metadata=metadata,
            callback_url=body.get("callback_url"),
            deadline=now + settings.job_deadline_seconds,
            priority=int(body.get("priority", 5)),
        )
        new = NewJob(job_id, raw["tenant"], fields, now + settings.requeue_after_seconds,
                     sched.tick_key(raw["id"], tick), raw["id"])  # fmt: skip
        created = self.rt.store.create(new)
        if created.created and fields["status"] == JobStatus.QUEUED:
            self.publish(job_type, job_id)
        return created.job_id
