"""Registered webhook endpoints (the Svix model): the record, its secrets and its filter.

A tenant registers endpoints; a job without a ``callback_url`` is delivered to each of its
tenant's enabled endpoints whose ``event_types`` match. Each endpoint signs with its own
``whsec_`` secret; after a rotation the previous keys keep signing until their grace period
ends (Standard Webhooks §Key rotation: one signature per key, space-separated), at most
``MAX_OLD_KEYS`` of them as in Svix (``v1/endpoints/endpoint/secrets.rs``).

Stored as one Redis hash per endpoint (``jobs.keys.endpoint``); this module only converts.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import orjson
from pydantic import BaseModel, Field

#: Unexpired previous keys kept after rotations (Svix keeps at most 10).
MAX_OLD_KEYS = 10


def new_endpoint_id() -> str:
    """``ep_`` + 12 hex digits of milliseconds + 8 random: ids sort by creation time."""
    return f"ep_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def new_secret() -> str:
    """A fresh secret, ``whsec_`` + base64 of 32 random bytes (the spec asks for >= 24)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class OldKey(BaseModel):
    """A previous secret that still signs until ``expires_at`` (unix seconds)."""

    key: str
    expires_at: float


class Endpoint(BaseModel):
    """One endpoint as the API shows it (the secret is only on ``/secret``)."""

    id: str
    url: str
    #: Event types delivered (``job.succeeded``...); None means every type.
    event_types: list[str] | None = None
    description: str = ""
    disabled: bool = False
    #: Attempts per second at most, None for no limit.
    rate_limit: int | None = Field(default=None, gt=0)
    created_at: str
    updated_at: str
    #: When its deliveries started failing without a success since (RFC 3339), if they are.
    failing_since: str | None = None


class StoredEndpoint(BaseModel):
    """An endpoint with what only the workers and ``/secret`` see."""

    endpoint: Endpoint
    tenant: str
    secret: str
    old_keys: list[OldKey] = Field(default_factory=list)

    def matches(self, event_type: str) -> bool:
        """Whether this endpoint wants ``event_type`` (and is enabled)."""
        types = self.endpoint.event_types
        return not self.endpoint.disabled and (not types or event_type in types)

    def signing_keys(self, now: float | None = None) -> list[str]:
        """The current secret, then every previous one still in its grace period."""
        at = time.time() if now is None else now
        return [self.secret, *(k.key for k in self.old_keys if k.expires_at > at)]

    def rotated(self, grace: float, key: str | None = None) -> StoredEndpoint:
        """This endpoint with a new current secret; the old one signs for ``grace`` s more."""
        now = time.time()
        kept = [k for k in self.old_keys if k.expires_at > now]
        old = [OldKey(key=self.secret, expires_at=now + grace), *kept][:MAX_OLD_KEYS]
        return self.model_copy(update={"secret": key or new_secret(), "old_keys": old})

    def to_hash(self) -> dict[str, str]:
        """The Redis hash fields."""
        ep = self.endpoint
        return {
            "id": ep.id,
            "tenant": self.tenant,
            "url": ep.url,
            "event_types": orjson.dumps(ep.event_types).decode(),
            "description": ep.description,
            "disabled": "1" if ep.disabled else "0",
            "rate_limit": "" if ep.rate_limit is None else str(ep.rate_limit),
            "created_at": ep.created_at,
            "updated_at": ep.updated_at,
            "failing_since": ep.failing_since or "",
            "secret": self.secret,
            "old_keys": orjson.dumps([k.model_dump() for k in self.old_keys]).decode(),
        }

    @classmethod
    def from_hash(cls, data: dict[str, Any]) -> StoredEndpoint:
        """Read the Redis hash fields back (``to_hash``)."""
        endpoint = Endpoint(
            id=data["id"],
            url=data["url"],
            event_types=orjson.loads(data.get("event_types") or "null"),
            description=data.get("description", ""),
            disabled=data.get("disabled") == "1",
            rate_limit=int(data["rate_limit"]) if data.get("rate_limit") else None,
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            failing_since=data.get("failing_since") or None,
        )
        old = [OldKey(**k) for k in orjson.loads(data.get("old_keys") or "[]")]
        return cls(endpoint=endpoint, tenant=data["tenant"], secret=data["secret"], old_keys=old)
