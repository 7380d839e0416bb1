"""Verify mistral-queue callbacks (Standard Webhooks) and remember which ones were handled.

The server signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 keyed by the
base64 part of a ``whsec_…`` secret (the Standard Webhooks spec); ``verify`` checks that with the
``standardwebhooks`` library, including its 5-minute timestamp tolerance.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as _LibraryError

from mistral_queue_client.errors import ClientError


class WebhookVerificationError(ClientError):
    """The body, headers or signature are not a valid, fresh callback for any given secret."""


def verify(
    body: bytes | str, headers: Mapping[str, str], secret: str | Sequence[str]
) -> dict[str, Any]:
    """The callback's JSON payload, once its signature and timestamp check out.

    Args:
        body: the request body exactly as received (bytes are safest: no re-encoding).
        headers: the request headers (any case): ``webhook-id``, ``webhook-timestamp``,
            ``webhook-signature``.
        secret: the ``whsec_…`` secret, or several while rotating (any one may match).

    Returns:
        ``{"type": "job.succeeded" | …, "timestamp": …, "data": <the job>}``.

    Raises:
        WebhookVerificationError: a header is missing, the timestamp is more than 5 minutes
            off, no signature matches, or the body is not a JSON object.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    plain = {k.lower(): v for k, v in headers.items()}
    reason = "no secret given"
    for key in secrets:
        try:
            payload = Webhook(key).verify(body, plain)
        except (_LibraryError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            continue
        if not isinstance(payload, dict):
            raise WebhookVerificationError("the body is not a JSON object")
        return payload
    raise WebhookVerificationError(f"webhook not verified: {reason}")


class WebhookIdStore(Protocol):
    """Where handled ``webhook-id``s are remembered (in memory, Redis, a database table …).

    ``claim`` must be atomic: of two concurrent claims of one id, only one returns True.
    """

    async def claim(self, webhook_id: str) -> bool:
        """Mark ``webhook_id`` as being handled; False when it already was."""
        ...

    async def release(self, webhook_id: str) -> None:
        """Forget ``webhook_id`` (its handler failed, so the sender's retry must run it)."""
        ...


class MemoryStore:
    """A ``WebhookIdStore`` in this process: ids kept ``ttl`` seconds, at most ``max_ids``.

    Enough for one receiver process; several processes need a shared store (e.g. Redis
    ``SET webhook_id 1 NX EX ttl``). The default TTL outlasts the sender's whole retry
    schedule (about 28 hours for Svix's).
    """

    def __init__(self, ttl: float = 3 * 86400, max_ids: int = 100_000) -> None:
        self.ttl = ttl
        self.max_ids = max_ids
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = asyncio.Lock()

    async def claim(self, webhook_id: str) -> bool:
        async with self._lock:
            now = time.monotonic()
            while self._seen and (
                next(iter(self._seen.values())) < now or len(self._seen) >= self.max_ids
            ):
                self._seen.popitem(last=False)
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = now + self.ttl
            return True

    async def release(self, webhook_id: str) -> None:
        async with self._lock:
            self._seen.pop(webhook_id, None)


__all__ = ["MemoryStore", "WebhookIdStore", "WebhookVerificationError", "verify"]
