"""Per-job leases against a private redis-server: exclusive, renewed, taken back after a lapse
nobody used, never brought back after release, and handed back on demand."""

from __future__ import annotations

import secrets
import time

import pytest
import redis

from mistral_queue.jobs import keys
from mistral_queue.jobs.lease import Leases
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)

TTL = 1.5


def new_job() -> str:
    return f"job_lease{secrets.token_hex(6)}"


def test_a_lease_is_exclusive_and_renewed_while_held(private_redis: redis.Redis) -> None:
    mine, theirs = Leases(private_redis, TTL), Leases(private_redis, TTL)
    job_id = new_job()
    with mine.hold(job_id) as held:
        assert held
        with theirs.hold(job_id) as also:
            assert not also
        time.sleep(2 * TTL)
        assert mine.is_held(job_id)
    assert not mine.is_held(job_id)
    mine.close()


def test_a_lapsed_lease_nobody_took_is_taken_back(private_redis: redis.Redis) -> None:
    leases = Leases(private_redis, TTL)
    job_id = new_job()
    with leases.hold(job_id):
        token = private_redis.get(keys.job_lease(job_id))
        # As if Redis lost it (an outage longer than the TTL)
        private_redis.delete(keys.job_lease(job_id))
        wait_for(lambda: leases.is_held(job_id), 5, "the lease to be taken back")
        assert private_redis.get(keys.job_lease(job_id)) == token
    leases.close()


def test_a_released_lease_stays_released(private_redis: redis.Redis) -> None:
    leases = Leases(private_redis, TTL)
    job_ids = [new_job() for _ in range(50)]
    for job_id in job_ids:
        with leases.hold(job_id):
            time.sleep(0.02)
    time.sleep(TTL)
    assert not any(leases.is_held(job_id) for job_id in job_ids)
    leases.close()


def test_hand_back_releases_and_calls_the_sweep(private_redis: redis.Redis) -> None:
    leases = Leases(private_redis, TTL)
    job_id = new_job()
    private_redis.zadd(keys.JOBS_WATCH, {job_id: time.time() + 3600})
    with leases.hold(job_id):
        assert leases.hand_back() == [job_id]
        assert not leases.is_held(job_id)
        assert (private_redis.zscore(keys.JOBS_WATCH, job_id) or 0) <= time.time()
    private_redis.zrem(keys.JOBS_WATCH, job_id)
