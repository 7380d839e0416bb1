"""Owner-token locks and semaphores against a real Redis (jobs.locks)."""

from __future__ import annotations

import threading
import time
import uuid

import redis

from mistral_queue.jobs import locks


def _key() -> str:
    return f"test:lock:{uuid.uuid4().hex}"


def test_an_expired_holder_cannot_delete_the_new_owners_lock(private_redis: redis.Redis) -> None:
    key = _key()
    # Given A's lock lapsed while A was still sending, and B took it over
    a = locks.take(private_redis, key, ttl=0.2)
    assert a is not None
    time.sleep(0.35)
    b = locks.take(private_redis, key, ttl=30)
    assert b is not None and b != a
    # When A finishes and releases
    assert locks.release(private_redis, key, a) is False
    # Then B still holds it: a third worker cannot send the same callback at once
    assert private_redis.get(key) == b
    assert locks.take(private_redis, key, ttl=30) is None
    assert locks.release(private_redis, key, b) is True
    assert private_redis.exists(key) == 0


def test_held_admits_one_at_a_time(private_redis: redis.Redis) -> None:
    key = _key()
    inside = 0
    most = 0
    entered = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, most, entered
        for _ in range(20):
            with locks.held(private_redis, key, ttl=10) as taken:
                if not taken:
                    continue
                with guard:
                    inside += 1
                    entered += 1
                    most = max(most, inside)
                time.sleep(0.002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    assert entered >= 1
    assert private_redis.exists(key) == 0


def test_a_semaphore_caps_holders_and_frees_lapsed_slots(private_redis: redis.Redis) -> None:
    key = _key()
    first = locks.take_slot(private_redis, key, limit=2, ttl=0.3)
    second = locks.take_slot(private_redis, key, limit=2, ttl=30)
    assert first and second
    assert locks.take_slot(private_redis, key, limit=2, ttl=30) is None
    # A holder that died frees its slot once its TTL has passed
    time.sleep(0.45)
    third = locks.take_slot(private_redis, key, limit=2, ttl=30)
    assert third is not None
    # Releasing a lapsed token does not free someone else's slot
    locks.release_slot(private_redis, key, first)
    assert locks.take_slot(private_redis, key, limit=2, ttl=30) is None
    locks.release_slot(private_redis, key, second)
    with locks.slot(private_redis, key, limit=2, ttl=30) as got:
        assert got
    assert private_redis.zcard(key) == 1
