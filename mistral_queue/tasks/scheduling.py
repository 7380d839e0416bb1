"""Fair, token-aware admission of jobs: weighted shares across tenants, priorities within one.

Every job message that reaches a worker *arrives*: it joins its tenant's ready queue in Redis
(a sorted set by priority and age) and the scheduler starts as many ready jobs as there is
room for: below ``MQ_MAX_RUNNING_JOBS`` deployment-wide and below each tenant's
``max_concurrency``. A job not started is parked: its message is acked, so it holds no
worker and no broker prefetch slot. When a started job stops, the same atomic step frees its
room and starts the next jobs, which the worker publishes again (they then run at once).

Which tenant goes next is start-time fair queuing (a weighted fair queuing discipline, the
exact form of what deficit round robin approximates): each tenant with ready jobs has a
virtual time; the smallest goes next and starting a job advances it by the job's estimated
tokens / the tenant's ``weight``; when the job stops, its real ``usage`` replaces the
estimate. Over any busy period each backlogged tenant's token share tends to its weight's
share; an idle tenant's share is lent to the others (work-conserving) and a tenant coming
back starts at the scheduler's clock, so idling banks no credit. All state is in Redis and
changed by Lua scripts, so any number of workers on any machines agree.

Priority: within a tenant, ready jobs go by ``created - priority * MQ_PRIORITY_AGING_SECONDS``
(lowest first), so priority 9 overtakes priority 0 by at most ``9 * aging`` seconds of age: a
job is only ever passed by jobs accepted less than ``(9 - priority) * aging`` seconds after it,
which bounds its wait (no starvation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import redis
from celery import Celery

from mistral_queue.broker import dispatch
from mistral_queue.config import Settings
from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobRecord, JobStatus, JobType
from mistral_queue.mistral.limiter import estimate_tokens

_LUA = resources.files("mistral_queue.tasks").joinpath("lua")
_PICK = _LUA.joinpath("sched_pick.lua").read_text()
_ARRIVE = _PICK + _LUA.joinpath("sched_arrive.lua").read_text()
_RELEASE = _PICK + _LUA.joinpath("sched_release.lua").read_text()

#: Most jobs one arrival or release starts (the rest wait for the next release).
MAX_STARTS = 32
#: Default priority of a job (0..9, 9 most urgent).
DEFAULT_PRIORITY = 5

_KEYS = [keys.SCHED_RUNNING, keys.SCHED_TENANTS, keys.SCHED_CONF, keys.SCHED_COST, keys.SCHED_CLOCK]


def member(job_type: str, job_id: str) -> str:
    """A job's name in the scheduler, ``<type>:<job id>``: a started job's task is known."""
    return f"{job_type}:{job_id}"


def queue_score(created: float, priority: int, aging: float) -> float:
    """A job's place in its tenant's ready queue (lower goes first)."""
    return created - priority * aging


def created_ts(record: JobRecord) -> float:
    """Unix time the job was accepted."""
    return datetime.fromisoformat(record.job.created_at.replace("Z", "+00:00")).timestamp()


def job_estimate(record: JobRecord) -> int:
    """Tokens the job is expected to use (its request's estimate; a batch's summary body)."""
    return max(1, estimate_tokens(record.job.request))


@dataclass(frozen=True)
class Admission:
    """The outcome of an arrival: may the job run now, and which other jobs were started."""

    run: bool
    started: list[tuple[str, str]]


def _parse(members: list[Any]) -> list[tuple[str, str]]:
    out = []
    for raw in members:
        job_type, _, job_id = str(raw).partition(":")
        out.append((job_type, job_id))
    return out


class Scheduler:
    """Arrivals and releases of jobs against the deployment's and the tenants' room."""

    def __init__(self, client: redis.Redis, settings: Settings, hold_seconds: float) -> None:
        self.redis = client
        self.settings = settings
        self.hold = hold_seconds
        self._arrive = client.register_script(_ARRIVE)
        self._release = client.register_script(_RELEASE)

    def _base(self, now: float) -> list[Any]:
        cap = self.settings.max_running_jobs or 0
        return [keys.tenant_ready("{t}"), keys.tenant_running("{t}"), now, now + self.hold, cap]

    def needed(self, record: JobRecord, limits: TenantLimits) -> bool:
        """Whether this delivery of a job of a tenant with ``limits`` goes through the scheduler.

        Without a deployment cap, only a tenant with its own cap can have waiting jobs. A
        running batch job's polls do not: its room was given back after its start step.
        """
        if record.job.type == JobType.BATCH and record.status == JobStatus.RUNNING:
            return False
        return self.settings.max_running_jobs is not None or self._cap(limits) > 0

    def _cap(self, limits: TenantLimits) -> int:
        return limits.max_concurrency or self.settings.tenant_max_concurrency or 0

    def arrive(self, record: JobRecord, limits: TenantLimits, now: float) -> Admission:
        """The job's message reached a worker: start it, or leave it parked in Redis."""
        name = member(record.job.type.value, record.id)
        score = queue_score(
            created_ts(record), record.job.priority, self.settings.priority_aging_seconds
        )
        args = [
            *self._base(now),
            name,
            record.tenant,
            score,
            job_estimate(record),
            limits.weight,
            self._cap(limits),
            MAX_STARTS,
        ]
        started = [str(m) for m in self._arrive(keys=_KEYS, args=args)]
        return Admission(name in started, _parse([m for m in started if m != name]))

    def release(self, record: JobRecord, now: float) -> list[tuple[str, str]]:
        """The job stopped: free its room and return the ``(type, id)`` of the jobs started."""
        name = member(record.job.type.value, record.id)
        args = [*self._base(now), name, record.tenant, MAX_STARTS]
        keys_ = [*_KEYS, keys.job_usage(record.id)]
        return _parse(self._release(keys=keys_, args=args))


def publish_started(app: Celery, started: list[tuple[str, str]]) -> None:
    """Publish the jobs the scheduler started (they run at once when they arrive)."""
    for job_type, job_id in started:
        dispatch.run_job(app, JobType(job_type), job_id)
