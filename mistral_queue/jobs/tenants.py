"""Managed tenants and their API keys, kept in Redis (``/v1/admin/tenants``).

A key is ``mqk_`` + 43 URL-safe characters (256 random bits): the visible prefix lets secret
scanners find leaked ones. Only its SHA-256 is stored, as the name of a lookup hash, so a
request costs one Redis read and nothing stored can be used as a key. Revoking or deleting
removes that hash, so every API process refuses the key from its next request on.
``MQ_API_KEYS`` tenants are static and never stored here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aredis

from mistral_queue.jobs import keys
from mistral_queue.jobs.model import now_iso

#: The visible prefix of every managed API key.
KEY_PREFIX = "mqk_"


class TenantExists(Exception):
    """Raised when a tenant id is taken (now, by a static tenant, or by a deleted one)."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``api_key`` is shown once and never stored."""

    key_id: str
    api_key: str


def digest(api_key: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up under."""
    return hashlib.sha256(api_key.encode()).hexdigest()


async def tenant_of_key(client: aredis.Redis, presented: str) -> str | None:
    """The managed tenant of ``presented``, or None (one Redis read, no cache)."""
    if not presented.startswith(KEY_PREFIX):
        return None
    wanted = digest(presented)
    found: dict[str, str] = await client.hgetall(keys.api_key(wanted))  # type: ignore[assignment]
    # The lookup is by digest; the compare guards against a hash filled in by mistake.
    if not found or not hmac.compare_digest(found.get("digest", ""), wanted):
        return None
    return found.get("tenant")


async def add_key(client: aredis.Redis, tenant: str) -> NewKey:
    """Make and store a new key for ``tenant``."""
    new = NewKey("key_" + secrets.token_hex(8), KEY_PREFIX + secrets.token_urlsafe(32))
    hashed = digest(new.api_key)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.api_key(hashed), mapping={"tenant": tenant, "key_id": new.key_id,
                                                 "digest": hashed})  # fmt: skip
        pipe.hset(keys.tenant_keys(tenant), new.key_id, f"{hashed} {now_iso()}")
        await pipe.execute()
    return new


async def revoke_key(client: aredis.Redis, tenant: str, key_id: str) -> bool:
    """Remove one key of ``tenant``; False when it has no such key."""
    entry = await client.hget(keys.tenant_keys(tenant), key_id)
    if entry is None:
        return False
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.api_key(str(entry).split(" ")[0]))
        pipe.hdel(keys.tenant_keys(tenant), key_id)
        await pipe.execute()
    return True


async def create(client: aredis.Redis, tenant: str, limits: dict[str, Any] | None) -> NewKey:
    """Register ``tenant`` with its first key.

    Raises:
        TenantExists: the id is taken or belonged to a deleted tenant.
    """
    if await client.sismember(keys.TENANTS_DELETED, tenant):
        raise TenantExists(tenant)
    if not await client.sadd(keys.TENANTS, tenant):
        raise TenantExists(tenant)
    record: dict[str | bytes, str] = {
        "id": tenant,
        "created_at": now_iso(),
        "limits": orjson.dumps(limits).decode(),
    }
    await client.hset(keys.tenant_record(tenant), mapping=record)  # type: ignore[arg-type]
    return await add_key(client, tenant)


async def get(client: aredis.Redis, tenant: str) -> dict[str, Any] | None:
    """``{"id", "created_at", "limits", "keys": [{"key_id", "created_at"}]}``, or None."""
    record: dict[str, str] = await client.hgetall(keys.tenant_record(tenant))  # type: ignore[assignment]
    if not record:
        return None
    entries: dict[str, str] = await client.hgetall(keys.tenant_keys(tenant))  # type: ignore[assignment]
    listed = [{"key_id": k, "created_at": v.split(" ")[1]} for k, v in sorted(entries.items())]
    return {
        "id": record["id"],
        "created_at": record["created_at"],
        "limits": orjson.loads(record.get("limits") or "null"),
        "keys": listed,
    }


async def list_all(client: aredis.Redis) -> list[dict[str, Any]]:
    """Every managed tenant, by id."""
    ids = sorted(await client.smembers(keys.TENANTS))
    found = [await get(client, str(tenant)) for tenant in ids]
    return [record for record in found if record is not None]


async def set_limits(client: aredis.Redis, tenant: str, limits: dict[str, Any] | None) -> None:
    """Replace the tenant's ``limits`` (stored as given; issue 16 gives them meaning)."""
    await client.hset(keys.tenant_record(tenant), "limits", orjson.dumps(limits).decode())


async def delete(client: aredis.Redis, tenant: str) -> None:
    """Remove the tenant and every key of it; its id is never given out again.

    Its webhook secret moves on too (the rotation counter grows, with no grace), so nothing
    signed for it before still verifies with what a later holder could obtain.
    """
    entries: dict[str, str] = await client.hgetall(keys.tenant_keys(tenant))  # type: ignore[assignment]
    async with client.pipeline(transaction=True) as pipe:
        for entry in entries.values():
            pipe.delete(keys.api_key(entry.split(" ")[0]))
        pipe.delete(keys.tenant_keys(tenant), keys.tenant_record(tenant))
        pipe.srem(keys.TENANTS, tenant)
        pipe.sadd(keys.TENANTS_DELETED, tenant)
        pipe.hincrby(keys.tenant_webhook_secret(tenant), "counter", 1)
        pipe.hdel(keys.tenant_webhook_secret(tenant), "previous", "rotated_at")
        await pipe.execute()
