"""The job store on a private redis-server: atomic changes, conflicts, retention, idempotency."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from mistral_queue.jobs import changes, keys
from mistral_queue.jobs.errors import IdempotencyConflict, InvalidTransition, JobNotFound
from mistral_queue.jobs.model import JobType, initial_fields, new_job_id
from mistral_queue.jobs.store import JobStore, NewJob

RETENTION = 3600


@pytest.fixture
def store(private_redis: redis.Redis) -> JobStore:
    return JobStore(private_redis, retention=RETENTION, idempotency_ttl=60)


def _new(key: str | None = None, digest: str = "a") -> NewJob:
    job_id = new_job_id()
    fields = initial_fields(
        job_id=job_id,
        tenant="t1",
        job_type=JobType.CHAT,
        request={"model": "m", "messages": []},
        metadata={},
        callback_url="https://example.com/hook",
        deadline=time.time() + 60,
    )
    return NewJob(job_id, "t1", fields, time.time() + 60, key, digest)


def test_a_final_job_expires_with_its_events(store: JobStore, private_redis: redis.Redis) -> None:
    new = _new()
    store.create(new)
    assert private_redis.ttl(keys.job(new.job_id)) == -1
    store.apply(new.job_id, "t1", changes.attempt(1, watch_until=time.time()))
    store.apply(new.job_id, "t1", changes.succeed({"ok": True}))
    assert 0 < private_redis.ttl(keys.job(new.job_id)) <= RETENTION
    assert 0 < private_redis.ttl(keys.job_events(new.job_id)) <= RETENTION
    assert private_redis.zscore(keys.JOBS_WATCH, new.job_id) is None
    assert private_redis.zscore(keys.CALLBACKS_DUE, new.job_id) is not None


def test_a_final_job_accepts_no_other_ending(store: JobStore) -> None:
    new = _new()
    store.create(new)
    store.apply(new.job_id, "t1", changes.cancel())
    with pytest.raises(InvalidTransition) as info:
        store.apply(new.job_id, "t1", changes.attempt(1, watch_until=time.time()))
    assert info.value.status == "cancelled"
    with pytest.raises(JobNotFound):
        store.apply("job_missing", "t1", changes.cancel())


def test_every_change_appends_exactly_one_event(
    store: JobStore, private_redis: redis.Redis
) -> None:
    new = _new()
    store.create(new)
    store.apply(new.job_id, "t1", changes.attempt(1, watch_until=time.time()))
    store.apply(new.job_id, "t1", changes.attempt(2, watch_until=time.time()))  # already running
    store.apply(new.job_id, "t1", changes.fail({"type": "x", "message": "y"}))
    entries: Any = private_redis.xrange(keys.job_events(new.job_id))
    types = [fields["type"] for _, fields in entries]
    assert types == ["job.queued", "job.started", "job.failed"]
    record = store.get(new.job_id)
    assert record is not None and record.job.attempts == 2


def test_idempotency_keys_bind_a_body(store: JobStore) -> None:
    first = _new("k1", "body-a")
    assert store.create(first).created
    again = store.create(_new("k1", "body-a"))
    assert (again.created, again.job_id) == (False, first.job_id)
    with pytest.raises(IdempotencyConflict):
        store.create(_new("k1", "body-b"))
