"""Which upstream objects a tenant's own jobs made, so one tenant cannot use another's.

With the deployment's shared Mistral key every tenant's conversations and files live in one
workspace, so Mistral itself cannot tell them apart: the service records, per tenant, the
conversation ids its agent jobs got back and the file ids its batch jobs uploaded, and intake
lets a tenant continue or read only those. The sets have no expiry: a conversation can be
continued as long as Mistral keeps it.
"""

from __future__ import annotations

import redis
import redis.asyncio as aredis

from mistral_queue.jobs import keys


def record_conversation(client: redis.Redis, tenant: str, conversation_id: str) -> None:
    """Remember that ``tenant``'s job started (or continued) ``conversation_id``."""
    client.sadd(keys.tenant_conversations(tenant), conversation_id)


def record_file(client: redis.Redis, tenant: str, file_id: str) -> None:
    """Remember that ``tenant``'s job uploaded ``file_id`` to Mistral."""
    client.sadd(keys.tenant_files(tenant), file_id)


async def owns_conversation(client: aredis.Redis, tenant: str, conversation_id: str) -> bool:
    """Whether one of ``tenant``'s jobs got ``conversation_id`` from Mistral."""
    found = await client.sismember(keys.tenant_conversations(tenant), conversation_id)
    return bool(found)


async def owns_file(client: aredis.Redis, tenant: str, file_id: str) -> bool:
    """Whether one of ``tenant``'s jobs uploaded ``file_id``."""
    found = await client.sismember(keys.tenant_files(tenant), file_id)
    return bool(found)
