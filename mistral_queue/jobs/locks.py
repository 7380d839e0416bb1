"""Owner-token locks and counting semaphores in Redis, released only by their owner.

A lock is a string holding a random token, set with NX and a TTL (as job leases are,
``jobs.lease``). Its release is a compare-and-delete in one Lua script: a holder whose lock
lapsed (it ran past the TTL) and was taken by another worker cannot delete the new owner's
lock, which would let a third worker in and send the same callback twice at once.

A semaphore is a sorted set of owner tokens scored by when each lapses: taking a slot drops
lapsed tokens first, so a worker that died holding one frees it after the TTL; releasing
removes only the caller's own token.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)

# KEYS[1] the sorted set; ARGV: now (s), lapses at (s), limit, token, key TTL (ms).
_ACQUIRE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def take(client: redis.Redis, key: str, ttl: float) -> str | None:
    """Take the lock ``key`` for ``ttl`` seconds.

    Returns:
        The owner token (pass it to ``release``), or None when someone holds the lock.
    """
    token = secrets.token_hex(8)
    return token if client.set(key, token, nx=True, px=max(1, int(ttl * 1000))) else None


def release(client: redis.Redis, key: str, token: str) -> bool:
    """Delete the lock only if ``token`` still owns it; returns whether it did."""
    return bool(client.eval(_RELEASE, 1, key, token))


@contextmanager
def held(client: redis.Redis, key: str, ttl: float) -> Iterator[bool]:
    """Hold the lock ``key`` for the block if it is free; yields whether it was taken."""
    token = take(client, key, ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            release(client, key, token)


def take_slot(client: redis.Redis, key: str, limit: int, ttl: float) -> str | None:
    """Take one of ``limit`` slots of the semaphore ``key`` for at most ``ttl`` seconds.

    Returns:
        The owner token, or None when all slots are taken.
    """
    token = secrets.token_hex(8)
    now = time.time()
    ttl_ms = max(1, int(ttl * 1000))
    taken = client.eval(_ACQUIRE_SLOT, 1, key, now, now + ttl, limit, token, 2 * ttl_ms)
    return token if taken else None


def release_slot(client: redis.Redis, key: str, token: str) -> None:
    """Give back the slot ``token`` holds (a lapsed one is already gone)."""
    client.zrem(key, token)


@contextmanager
def slot(client: redis.Redis, key: str, limit: int, ttl: float) -> Iterator[bool]:
    """Hold a slot of the semaphore ``key`` for the block if one is free; yields whether."""
    token = take_slot(client, key, limit, ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            release_slot(client, key, token)
