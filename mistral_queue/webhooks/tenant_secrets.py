"""Per-tenant Standard Webhooks secrets, derived from the deployment's master key.

``MQ_WEBHOOK_SECRET`` is the master: it signs nothing itself. A tenant's secret is
HKDF-SHA256 (RFC 5869) of the master's key bytes, with the tenant id and a rotation counter
as ``info``, so no secret is stored and every worker derives the same one. Rotating bumps the
counter (kept in Redis, ``jobs.keys.tenant_webhook_secret``); the previous secret keeps
signing for ``MQ_WEBHOOK_ROTATION_GRACE_SECONDS`` so receivers can switch over (Svix's
rotation: both ``v1,`` signatures are sent, space-separated). Only one previous secret is
kept: rotating twice within the grace ends the oldest one at once.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping

import redis
import redis.asyncio as aredis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mistral_queue.config import Settings
from mistral_queue.jobs import keys

#: HKDF salt: fixed per purpose, so a key derived for something else never collides.
_SALT = b"mistral-queue/tenant-webhook-secret/v1"

#: Bytes of a derived secret (Standard Webhooks v1 §Secret asks for at least 24).
SECRET_BYTES = 32

#: Atomic rotation: the current counter becomes ``previous``; returns the new counter.
_ROTATE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'counter') or '0')
redis.call('HSET', KEYS[1], 'counter', current + 1, 'previous', current, 'rotated_at', ARGV[1])
return current + 1
"""


def derive(master: bytes, tenant: str, counter: int) -> bytes:
    """The tenant's key bytes for one rotation ``counter`` (HKDF-SHA256, 32 bytes).

    ``info`` is the JSON text ``["<tenant>", <counter>]``: unambiguous for any tenant id.
    """
    info = json.dumps([tenant, counter]).encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=SECRET_BYTES, salt=_SALT, info=info)
    return hkdf.derive(master)


def as_whsec(key: bytes) -> str:
    """The ``whsec_<base64>`` form receivers configure."""
    return "whsec_" + base64.b64encode(key).decode()


def _master(settings: Settings) -> bytes:
    masters = settings.webhook_keys()
    if not masters:
        raise ValueError("MQ_WEBHOOK_SECRET is not set: no tenant secret can be derived")
    return masters[0]


def keys_from_state(
    settings: Settings, tenant: str, state: Mapping[str, str], now: float | None = None
) -> list[bytes]:
    """The tenant's signing keys, current first, from its stored rotation state.

    Args:
        settings: for the master key and the rotation grace.
        tenant: the tenant id.
        state: the ``tenant_webhook_secret`` hash (empty: never rotated, counter 0).
        now: unix seconds, default now.

    Returns:
        One key, or two while the previous one is within its grace.

    Raises:
        ValueError: no master key is configured.
    """
    master = _master(settings)
    counter = int(state.get("counter") or 0)
    found = [derive(master, tenant, counter)]
    previous, rotated_at = state.get("previous"), state.get("rotated_at")
    if previous is not None and rotated_at is not None:
        ends = float(rotated_at) + settings.webhook_rotation_grace_seconds
        if (time.time() if now is None else now) < ends:
            found.append(derive(master, tenant, int(previous)))
    return found


def tenant_signing_keys(client: redis.Redis, settings: Settings, tenant: str) -> list[bytes]:
    """The keys a tenant's callbacks and HTTP-tool calls are signed with, current first.

    Raises:
        ValueError: no master key is configured.
        redis.RedisError: Redis is unreachable.
    """
    state: dict[str, str] = client.hgetall(keys.tenant_webhook_secret(tenant))  # type: ignore[assignment]
    return keys_from_state(settings, tenant, state)


async def current_secret(client: aredis.Redis, settings: Settings, tenant: str) -> str:
    """The tenant's current secret as ``whsec_…`` (what ``GET /v1/webhook-secret`` shows)."""
    state: dict[str, str] = await client.hgetall(keys.tenant_webhook_secret(tenant))  # type: ignore[assignment]
    return as_whsec(keys_from_state(settings, tenant, state)[0])


async def rotate(client: aredis.Redis, settings: Settings, tenant: str) -> str:
    """Start signing with a new secret; the old one keeps signing through the grace.

    Returns:
        The new secret as ``whsec_…``.
    """
    counter = await client.eval(_ROTATE, 1, keys.tenant_webhook_secret(tenant), repr(time.time()))
    return as_whsec(derive(_master(settings), tenant, int(counter)))


def static_tenant_keys(settings: Settings) -> list[bytes]:
    """The signing keys of every ``MQ_API_KEYS`` tenant, read once (the dev receiver's keys).

    Raises:
        ValueError: no master key is configured.
        redis.RedisError: Redis is unreachable.
    """
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        tenants = sorted({api_key.tenant for api_key in settings.api_keys})
        return [key for tenant in tenants for key in tenant_signing_keys(client, settings, tenant)]
    finally:
        client.close()
