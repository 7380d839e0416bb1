"""The fair scheduler's Lua on a private redis-server: shares, priorities, aging, caps."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from mistral_queue.config import Settings
from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobRecord, JobType, initial_fields, new_job_id
from mistral_queue.tasks.scheduling import Scheduler

AGING = 60.0


@pytest.fixture
def client(private_redis: redis.Redis) -> Iterator[redis.Redis]:
    yield private_redis
    # The scheduler's state is deployment-wide: each test starts from none.
    for key in private_redis.scan_iter(f"{keys.PREFIX}sched:*"):
        private_redis.delete(key)


def scheduler(client: redis.Redis, cap: int | None) -> Scheduler:
    settings = Settings(max_running_jobs=cap, priority_aging_seconds=AGING)
    return Scheduler(client, settings, hold_seconds=600)


def job(tenant: str, priority: int = 5, created: float | None = None, text: str = "x") -> JobRecord:
    fields = initial_fields(
        job_id=new_job_id(),
        tenant=tenant,
        job_type=JobType.CHAT,
        request={"model": "m", "messages": [{"role": "user", "content": text}], "max_tokens": 100},
        metadata={},
        callback_url=None,
        deadline=time.time() + 600,
        priority=priority,
    )
    stamp = datetime.fromtimestamp(created or time.time(), UTC).isoformat()
    fields["created_at"] = stamp.replace("+00:00", "Z")
    return JobRecord.from_hash(fields)


def tenants() -> tuple[str, str]:
    return f"a-{secrets.token_hex(3)}", f"b-{secrets.token_hex(3)}"


def drain(
    sched: Scheduler, running: list[JobRecord], by_id: dict[str, JobRecord], count: int
) -> list[JobRecord]:
    """Finish running jobs one at a time, ``count`` times; return the jobs started, in order."""
    order: list[JobRecord] = []
    for _ in range(count):
        done = running.pop(0)
        for _, job_id in sched.release(done, time.time()):
            order.append(by_id[job_id])
            running.append(by_id[job_id])
    return order


def test_a_light_tenant_goes_through_during_a_flood(client: redis.Redis) -> None:
    sched = scheduler(client, cap=2)
    heavy, light = tenants()
    limits = TenantLimits()
    # Given tenant A's flood of 200 jobs arrived first and filled the room
    flood = [job(heavy) for _ in range(200)]
    by_id = {j.id: j for j in flood}
    running = [j for j in flood if sched.arrive(j, limits, time.time()).run]
    assert len(running) == 2
    # When B's 10 jobs arrive, they wait too...
    small = [job(light) for _ in range(10)]
    by_id |= {j.id: j for j in small}
    assert not any(sched.arrive(j, limits, time.time()).run for j in small)
    # ...but as room frees, the two tenants alternate (equal weights, equal job sizes)
    order = drain(sched, running, by_id, 20)
    assert [j.tenant for j in order].count(light) == 10


def test_weights_3_to_1_share_the_starts_3_to_1(client: redis.Redis) -> None:
    sched = scheduler(client, cap=1)
    a, b = tenants()
    jobs_ = [job(a) for _ in range(100)] + [job(b) for _ in range(100)]
    by_id = {j.id: j for j in jobs_}
    weights = {a: TenantLimits(weight=3), b: TenantLimits(weight=1)}
    running = [j for j in jobs_ if sched.arrive(j, weights[j.tenant], time.time()).run]
    order = drain(sched, running, by_id, 80)
    shares = Counter(j.tenant for j in order)
    assert shares[a] == pytest.approx(60, abs=2) and shares[b] == pytest.approx(20, abs=2)


def test_real_usage_corrects_the_share(client: redis.Redis) -> None:
    sched = scheduler(client, cap=1)
    a, b = tenants()
    limits = TenantLimits()
    jobs_ = [job(a) for _ in range(40)] + [job(b) for _ in range(40)]
    by_id = {j.id: j for j in jobs_}
    running = [j for j in jobs_ if sched.arrive(j, limits, time.time()).run]
    order: list[JobRecord] = []
    for _ in range(30):
        done = running.pop(0)
        # A's jobs really use 3x their estimate, B's exactly it
        estimate = int(client.hget(keys.SCHED_COST, f"chat:{done.id}") or 0)
        used = estimate * (3 if done.tenant == a else 1)
        client.hset(keys.job_usage(done.id), mapping={"prompt": used, "completion": 0})
        for _, job_id in sched.release(done, time.time()):
            order.append(by_id[job_id])
            running.append(by_id[job_id])
    shares = Counter(j.tenant for j in order[5:])
    # Equal token shares mean B starts about 3 jobs for each of A's
    assert shares[b] >= 2.5 * shares[a]


def test_priority_overtakes_a_backlog_within_a_tenant(client: redis.Redis) -> None:
    sched = scheduler(client, cap=1)
    a, _ = tenants()
    limits = TenantLimits()
    backlog = [job(a, priority=5) for _ in range(100)]
    urgent = job(a, priority=9)
    by_id = {j.id: j for j in [*backlog, urgent]}
    running = [j for j in [*backlog, urgent] if sched.arrive(j, limits, time.time()).run]
    assert drain(sched, running, by_id, 1) == [urgent]


def test_aging_bounds_how_long_low_priority_is_passed(client: redis.Redis) -> None:
    sched = scheduler(client, cap=1)
    a, _ = tenants()
    limits = TenantLimits()
    now = time.time()
    blocker = job(a, created=now - 10_000)
    old_low = job(a, priority=0, created=now - 9 * AGING - 5)
    # Urgent jobs accepted more than (9 - 0) * aging seconds after it do not pass it
    late_urgent = [job(a, priority=9, created=now) for _ in range(5)]
    early_urgent = job(a, priority=9, created=now - 9 * AGING - 4)
    everything = [blocker, *late_urgent, early_urgent, old_low]
    by_id = {j.id: j for j in everything}
    running = [j for j in everything if sched.arrive(j, limits, now).run]
    assert running == [blocker]
    assert drain(sched, running, by_id, 2) == [early_urgent, old_low]


def test_a_tenant_cap_holds_while_others_use_the_room(client: redis.Redis) -> None:
    sched = scheduler(client, cap=None)
    a, b = tenants()
    capped, free = TenantLimits(max_concurrency=3), TenantLimits()
    started = [sched.arrive(job(a), capped, time.time()).run for _ in range(10)]
    assert started.count(True) == 3
    assert all(sched.arrive(job(b), free, time.time()).run for _ in range(10))
