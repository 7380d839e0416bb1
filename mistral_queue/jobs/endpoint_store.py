"""The API's side of endpoint state in Redis: create, list, change, delete, attempts, recover.

Same keys as ``jobs.endpoint_state`` (the workers' side). An endpoint of another tenant is
reported as missing, so routes answer 404 and never reveal that it exists.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis

from mistral_queue.jobs import keys
from mistral_queue.jobs.endpoint_state import now_iso
from mistral_queue.webhooks.endpoints import Endpoint, StoredEndpoint, new_endpoint_id, new_secret


class EndpointNotFound(LookupError):
    """No such endpoint for this tenant."""


class EndpointStore:
    """Endpoints of every tenant, through the API's asyncio Redis client."""

    def __init__(self, client: aredis.Redis) -> None:
        self.redis = client

    async def create(self, tenant: str, fields: dict[str, Any]) -> StoredEndpoint:
        """Register an endpoint with a fresh secret; ``fields`` are ``Endpoint`` fields."""
        now = now_iso()
        endpoint = Endpoint(id=new_endpoint_id(), created_at=now, updated_at=now, **fields)
        stored = StoredEndpoint(endpoint=endpoint, tenant=tenant, secret=new_secret())
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.endpoint(endpoint.id), mapping=stored.to_hash())  # type: ignore[arg-type]
        pipe.zadd(keys.tenant_endpoints(tenant), {endpoint.id: 0})
        await pipe.execute()
        return stored

    async def get(self, tenant: str, endpoint_id: str) -> StoredEndpoint:
        """The tenant's endpoint.

        Raises:
            EndpointNotFound: it does not exist or belongs to another tenant.
        """
        data: Any = await self.redis.hgetall(keys.endpoint(endpoint_id))
        if not data or data.get("tenant") != tenant:
            raise EndpointNotFound(f"no endpoint {endpoint_id}")
        return StoredEndpoint.from_hash(data)

    async def page(
        self, tenant: str, cursor: str | None, limit: int
    ) -> tuple[list[Endpoint], str | None]:
        """Endpoints oldest first after ``cursor`` (an endpoint id); returns the next cursor."""
        start = f"({cursor}" if cursor else "-"
        ids: Any = await self.redis.zrangebylex(
            keys.tenant_endpoints(tenant), start, "+", 0, limit + 1
        )
        found = []
        for endpoint_id in ids[:limit]:
            data: Any = await self.redis.hgetall(keys.endpoint(endpoint_id))
            if data:
                found.append(StoredEndpoint.from_hash(data).endpoint)
        return found, (ids[limit - 1] if len(ids) > limit else None)

    async def save(self, stored: StoredEndpoint, changes: dict[str, Any]) -> StoredEndpoint:
        """Store ``stored`` with ``changes`` to its ``Endpoint`` fields.

        Enabling an endpoint again restarts its failure clock (Svix does the same).
        """
        update = {**changes, "updated_at": now_iso()}
        if changes.get("disabled") is False:
            update["failing_since"] = None
        endpoint = stored.endpoint.model_copy(update=update)
        saved = stored.model_copy(update={"endpoint": endpoint})
        key = keys.endpoint(endpoint.id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=saved.to_hash())  # type: ignore[arg-type]
        if changes.get("disabled") is False:
            pipe.hdel(key, "disabled_at")
        await pipe.execute()
        return saved

    async def rotate(self, stored: StoredEndpoint, grace: float) -> StoredEndpoint:
        """Give the endpoint a new secret; the old one signs for ``grace`` seconds more."""
        rotated = stored.rotated(grace)
        fields = rotated.to_hash()
        await self.redis.hset(
            keys.endpoint(stored.endpoint.id),
            mapping={"secret": fields["secret"], "old_keys": fields["old_keys"]},
        )
        return rotated

    async def delete(self, stored: StoredEndpoint) -> None:
        """Forget the endpoint, its attempt log and its failed list."""
        endpoint_id = stored.endpoint.id
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.endpoint(endpoint_id), keys.endpoint_attempts(endpoint_id))
        pipe.delete(keys.endpoint_failed(endpoint_id))
        pipe.zrem(keys.tenant_endpoints(stored.tenant), endpoint_id)
        await pipe.execute()

    async def attempts(
        self, endpoint_id: str, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Attempts newest first, before ``cursor`` (a stream id); returns the next cursor."""
        end = f"({cursor}" if cursor else "+"
        rows: Any = await self.redis.xrevrange(
            keys.endpoint_attempts(endpoint_id), end, "-", limit + 1
        )
        items = [_attempt(fields) for _, fields in rows[:limit]]
        return items, (rows[limit - 1][0] if len(rows) > limit else None)

    async def failed_since(self, endpoint_id: str, since: float) -> list[tuple[str, str]]:
        """``(job_id, event)`` of the messages that failed at or after ``since`` (unix s), and
        set each one pending again with a fresh schedule."""
        members: Any = await self.redis.zrangebyscore(
            keys.endpoint_failed(endpoint_id), since, "+inf"
        )
        found: list[tuple[str, str]] = []
        for member in members:
            job_id, event = member.split(" ", 1)
            key = keys.endpoint_message(endpoint_id, job_id, event)
            state = {"status": "pending", "attempts": "0", "next_attempt_at": "0"}
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key, mapping=state)  # type: ignore[arg-type]
            pipe.zrem(keys.endpoint_failed(endpoint_id), member)
            await pipe.execute()
            found.append((job_id, event))
        return found


def _attempt(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": fields["id"],
        "job_id": fields["job_id"],
        "event_type": fields["event_type"],
        "webhook_id": fields["webhook_id"],
        "status_code": int(fields["status_code"]) if fields.get("status_code") else None,
        "error": fields.get("error") or None,
        "duration_ms": int(fields.get("duration_ms") or 0),
        "attempted_at": fields["attempted_at"],
    }
