"""The job store: job records, their event logs and indexes in Redis, changed only atomically.

Two faces over the same Lua scripts: :class:`JobStore` (sync redis-py, for worker threads) and
:class:`AsyncJobStore` (redis.asyncio, for the intake API).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import redis
import redis.asyncio as aredis

from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.changes import Change
from mistral_queue.jobs.errors import IdempotencyConflict, InvalidTransition, JobNotFound
from mistral_queue.jobs.model import JobRecord, dumps, now_iso
from mistral_queue.jobs.usage import AsyncBooker, Booker

#: Approximate length cap of a tenant's event stream (XADD MAXLEN ~).
TENANT_EVENTS_MAXLEN = 100_000


def _script(name: str) -> str:
    """A Lua script of this package, its job hash field placeholders filled from ``keys``."""
    text = resources.files("mistral_queue.jobs").joinpath(f"lua/{name}").read_text()
    return Template(text).substitute(fields.LUA_FIELDS)


_CREATE = _script("create.lua")
_TRANSITION = _script("transition.lua")


@dataclass(frozen=True)
class NewJob:
    """What the intake API stores for an accepted job."""

    job_id: str
    tenant: str
    fields: dict[str, str]
    #: Unix time the sweep first looks at the job if nothing happened to it.
    watch_at: float
    idempotency_key: str | None = None
    body_sha256: str | None = None


@dataclass(frozen=True)
class Created:
    """The outcome of :meth:`JobStore.create`: a new job, or the one an Idempotency-Key names."""

    job_id: str
    created: bool


@dataclass(frozen=True)
class Applied:
    """A change's outcome: the status before it, the event id it added, the attempts after it."""

    previous: str
    event_id: str
    attempts: int


def body_digest(body: bytes) -> str:
    """The sha256 hex digest an Idempotency-Key is bound to."""
    return hashlib.sha256(body).hexdigest()


def _score(value: float | str | None) -> str:
    if value is None:
        return ""
    return "-" if value == "remove" else repr(value)


class StoreCommands:
    """The Redis commands of the store and the reading of their replies, client-agnostic.

    :class:`JobStore` and :class:`AsyncJobStore` add only the I/O: each method builds the
    ``(keys, args)`` of a script call or fills a pipeline, or turns a reply into a value.
    """

    def __init__(self, *, retention: int, idempotency_ttl: int) -> None:
        """``retention``: seconds a finished job is kept; ``idempotency_ttl``: seconds a key is."""
        self.retention = retention
        self.idempotency_ttl = idempotency_ttl

    def create_call(self, new: NewJob) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``create.lua`` for ``new``."""
        idem_key = keys.idempotency(new.tenant, new.idempotency_key or "")
        idem_value = f"{new.job_id} {new.body_sha256}" if new.idempotency_key else ""
        flat: list[str] = [item for pair in new.fields.items() for item in pair]
        keys_ = [
            keys.job(new.job_id),
            keys.job_events(new.job_id),
            keys.tenant_jobs(new.tenant),
            keys.tenant_events(new.tenant),
            idem_key,
            keys.JOBS_WATCH,
            keys.METRICS,
            keys.JOBS_DUE,
            keys.JOBS_WAITING,
        ]
        data = {"status": new.fields[fields.STATUS]}
        if fields.RUN_AT in new.fields:
            data[fields.RUN_AT] = new.fields[fields.RUN_AT]
        args: list[Any] = [
            new.job_id,
            int(time.time() * 1000),
            idem_value,
            self.idempotency_ttl,
            dumps(data),
            now_iso(),
            TENANT_EVENTS_MAXLEN,
            new.watch_at,
            *flat,
        ]
        return keys_, args

    @staticmethod
    def created(new: NewJob, reply: list[Any]) -> Created:
        """Read ``create.lua``'s reply.

        Raises:
            IdempotencyConflict: the Idempotency-Key was used with another body.
        """
        if reply[0] == "ok":
            return Created(new.job_id, created=True)
        job_id, digest = str(reply[1]).split(" ", 1)
        if digest != new.body_sha256:
            raise IdempotencyConflict(new.idempotency_key or "")
        return Created(job_id, created=False)

    def change_call(self, job_id: str, tenant: str, change: Change) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``transition.lua`` applying ``change`` to the job."""
        keys_ = [
            keys.job(job_id),
            keys.job_events(job_id),
            keys.tenant_events(tenant),
            keys.JOBS_WATCH,
            keys.CALLBACKS_DUE,
            keys.METRICS,
        ]
        allowed = "*" if change.allowed is None else ",".join(sorted(change.allowed))
        flat = [item for pair in change.fields.items() for item in pair]
        args: list[Any] = [
            allowed,
            change.to.value if change.to else "",
            change.event or "",
            dumps(change.data),
            now_iso(),
            TENANT_EVENTS_MAXLEN,
            change.attempts,
            _score(change.watch),
            _score(change.callback_due),
            self.retention if change.finished else "",
            len(change.fields),
            *flat,
            *change.delete,
        ]
        return keys_, args

    @staticmethod
    def applied(job_id: str, change: Change, reply: list[Any]) -> Applied:
        """Read ``transition.lua``'s reply.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job's status does not allow the change.
        """
        if reply[0] == "missing":
            raise JobNotFound(job_id)
        if reply[0] == "conflict":
            raise InvalidTransition(job_id, str(reply[1]), change.action)
        return Applied(previous=str(reply[1]), event_id=str(reply[2]), attempts=int(reply[3]))

    @staticmethod
    def record(raw: dict[Any, Any], tenant: str | None) -> JobRecord | None:
        """The job of an HGETALL reply; None if empty or owned by another tenant."""
        if not raw:
            return None
        record = JobRecord.from_hash(raw)
        if tenant is not None and record.tenant != tenant:
            return None
        return record

    @staticmethod
    def delete_commands(pipe: Any, new: NewJob) -> Any:
        """Queue on ``pipe`` the removal of a job that was never accepted; returns ``pipe``."""
        pipe.delete(keys.job(new.job_id), keys.job_events(new.job_id))
        if new.idempotency_key:
            pipe.delete(keys.idempotency(new.tenant, new.idempotency_key))
        pipe.zrem(keys.tenant_jobs(new.tenant), new.job_id)
        pipe.zrem(keys.JOBS_WATCH, new.job_id)
        pipe.zrem(keys.JOBS_DUE, new.job_id)
        pipe.zrem(keys.JOBS_WAITING, new.job_id)
        return pipe


class JobStore(StoreCommands):
    """Job records in Redis, for synchronous callers (Celery worker threads)."""

    def __init__(self, client: redis.Redis, *, retention: int, idempotency_ttl: int) -> None:
        super().__init__(retention=retention, idempotency_ttl=idempotency_ttl)
        self.redis = client
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)
        self._usage = Booker(client)

    def create(self, new: NewJob) -> Created:
        """Store a new job; with an Idempotency-Key, return the earlier job instead.

        Raises:
            IdempotencyConflict: the key was used with another body.
        """
        keys_, args = self.create_call(new)
        return self.created(new, self._create(keys=keys_, args=args))

    def get(self, job_id: str, *, tenant: str | None = None) -> JobRecord | None:
        """The job, or None when unknown (or owned by another tenant than ``tenant``)."""
        return self.record(self.redis.hgetall(keys.job(job_id)), tenant)

    def attempts(self, job_id: str) -> int:
        """Upstream attempts counted on the job so far."""
        return int(self.redis.hget(keys.job(job_id), fields.ATTEMPTS) or 0)

    def apply(self, job_id: str, tenant: str, change: Change) -> Applied:
        """Apply one change atomically.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job's status does not allow the change.
        """
        keys_, args = self.change_call(job_id, tenant, change)
        applied = self.applied(job_id, change, self._transition(keys=keys_, args=args))
        if change.finished:
            self._usage.book(job_id, tenant, self.retention)
        return applied

    def delete(self, new: NewJob) -> None:
        """Remove a job that was never accepted (its broker publish failed)."""
        self.delete_commands(self.redis.pipeline(), new).execute()


class AsyncJobStore(StoreCommands):
    """Job records in Redis, for the asyncio intake API."""

    def __init__(self, client: aredis.Redis, *, retention: int, idempotency_ttl: int) -> None:
        super().__init__(retention=retention, idempotency_ttl=idempotency_ttl)
        self.redis = client
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)
        self._usage = AsyncBooker(client)

    async def create(self, new: NewJob) -> Created:
        """See :meth:`JobStore.create`."""
        keys_, args = self.create_call(new)
        return self.created(new, await self._create(keys=keys_, args=args))

    async def create_many(self, news: list[NewJob]) -> list[Created | IdempotencyConflict]:
        """Store many jobs in one pipelined round trip; each outcome as :meth:`create`'s."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for new in news:
                keys_, args = self.create_call(new)
                await self._create(keys=keys_, args=args, client=pipe)
            replies = await pipe.execute()
        outcomes: list[Created | IdempotencyConflict] = []
        for new, reply in zip(news, replies, strict=True):
            try:
                outcomes.append(self.created(new, reply))
            except IdempotencyConflict as exc:
                outcomes.append(exc)
        return outcomes

    async def get(self, job_id: str, *, tenant: str | None = None) -> JobRecord | None:
        """See :meth:`JobStore.get`."""
        return self.record(await self.redis.hgetall(keys.job(job_id)), tenant)

    async def apply(self, job_id: str, tenant: str, change: Change) -> Applied:
        """See :meth:`JobStore.apply`."""
        keys_, args = self.change_call(job_id, tenant, change)
        applied = self.applied(job_id, change, await self._transition(keys=keys_, args=args))
        if change.finished:
            await self._usage.book(job_id, tenant, self.retention)
        return applied

    async def delete(self, new: NewJob) -> None:
        """See :meth:`JobStore.delete`."""
        await self.delete_commands(self.redis.pipeline(), new).execute()
