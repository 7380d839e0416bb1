"""Leader election through one Redis key, for loops that must run once per deployment."""

from __future__ import annotations

import redis


def lead(client: redis.Redis, key: str, node: str, ttl_ms: int) -> bool:
    """Take or renew the lock ``key`` for ``node``; True when ``node`` leads now.

    A leader that dies stops renewing, so another node takes over within ``ttl_ms``.
    """
    if client.set(key, node, nx=True, px=ttl_ms):
        return True
    if client.get(key) == node:
        client.pexpire(key, ttl_ms)
        return True
    return False
