"""The workers' side of endpoint state in Redis: endpoints, per-message delivery state, attempts.

Keys (``jobs.keys``): one hash per endpoint, one hash per (endpoint, job, event) message with
``status`` (pending/delivered/failed), ``attempts`` and ``next_attempt_at`` (unix s), a
stream of attempts per endpoint, and a sorted set of its failed messages (for ``recover``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from mistral_queue.jobs import keys
from mistral_queue.webhooks.endpoints import StoredEndpoint

#: Approximate number of attempts kept per endpoint (XADD MAXLEN ~).
ATTEMPTS_KEPT = 10_000


def now_iso(at: float | None = None) -> str:
    """RFC 3339 UTC with milliseconds."""
    when = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load(client: redis.Redis, endpoint_id: str) -> StoredEndpoint | None:
    """The endpoint, or None when it does not exist (deleted)."""
    data: dict[str, Any] = client.hgetall(keys.endpoint(endpoint_id))  # type: ignore[assignment]
    return StoredEndpoint.from_hash(data) if data else None


def of_tenant(client: redis.Redis, tenant: str) -> list[StoredEndpoint]:
    """Every endpoint of ``tenant`` (one round trip for the index, one for the hashes)."""
    ids: list[str] = client.zrange(keys.tenant_endpoints(tenant), 0, -1)  # type: ignore[assignment]
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for endpoint_id in ids:
        pipe.hgetall(keys.endpoint(endpoint_id))
    return [StoredEndpoint.from_hash(d) for d in pipe.execute() if d]


def open_message(client: redis.Redis, endpoint_id: str, job_id: str, event: str, ttl: int) -> bool:
    """Create the message's delivery state if it is new; returns whether it was."""
    key = keys.endpoint_message(endpoint_id, job_id, event)
    created = client.hsetnx(key, "status", "pending")
    if created:
        client.hset(key, mapping={"attempts": "0", "next_attempt_at": "0"})
        client.expire(key, ttl)
    return bool(created)


def message(client: redis.Redis, endpoint_id: str, job_id: str, event: str) -> dict[str, str]:
    """The message's delivery state (empty when unknown)."""
    data: dict[str, str] = client.hgetall(keys.endpoint_message(endpoint_id, job_id, event))  # type: ignore[assignment]
    return data


def record_attempt(
    client: redis.Redis,
    endpoint_id: str,
    attempt: dict[str, Any],
    state: dict[str, str],
    failed_at: float | None,
) -> None:
    """Append ``attempt`` to the endpoint's log and store the message's new ``state``.

    Args:
        attempt: ``id, job_id, event_type, webhook_id, status_code, error, duration_ms,
            attempted_at`` (the attempt log's fields; None values are stored empty).
        state: the message hash's new fields (``status``, ``attempts``, ``next_attempt_at``).
        failed_at: when the message failed for good, to list it for ``recover``; None else.
    """
    job_id, event = attempt["job_id"], attempt["event"]
    fields = {k: "" if v is None else str(v) for k, v in attempt.items() if k != "event"}
    pipe = client.pipeline(transaction=True)
    pipe.xadd(keys.endpoint_attempts(endpoint_id), fields, maxlen=ATTEMPTS_KEPT, approximate=True)  # type: ignore[arg-type]
    pipe.hset(keys.endpoint_message(endpoint_id, job_id, event), mapping=state)  # type: ignore[arg-type]
    member = f"{job_id} {event}"
    if failed_at is not None:
        pipe.zadd(keys.endpoint_failed(endpoint_id), {member: failed_at})
    else:
        pipe.zrem(keys.endpoint_failed(endpoint_id), member)
    pipe.execute()


def note_outcome(
    client: redis.Redis, endpoint: StoredEndpoint, ok: bool, disable_after: float
) -> bool:
    """Track how long the endpoint has failed; disable it past ``disable_after`` seconds.

    Returns:
        Whether this call disabled it (the caller then logs ``endpoint.disabled``).
    """
    key = keys.endpoint(endpoint.endpoint.id)
    if ok:
        client.hset(key, "failing_since", "")
        return False
    now = time.time()
    client.eval(
        "if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[1], 'failing_since')"
        " == '' then redis.call('HSET', KEYS[1], 'failing_since', ARGV[1]) end return 1",
        1,
        key,
        now_iso(now),
    )
    since = client.hget(key, "failing_since")
    if not since:
        return False
    started = datetime.fromisoformat(str(since).replace("Z", "+00:00")).timestamp()
    if now - started < disable_after:
        return False
    return bool(client.hsetnx(key, "disabled_at", now_iso(now))) and _disable(client, key)


def _disable(client: redis.Redis, key: str) -> bool:
    client.hset(key, mapping={"disabled": "1", "updated_at": now_iso()})
    return True


def log_disabled(client: redis.Redis, endpoint: StoredEndpoint, reason: str) -> None:
    """Append an ``endpoint.disabled`` event to the tenant's event log (``GET /v1/events``)."""
    data = {"endpoint_id": endpoint.endpoint.id, "url": endpoint.endpoint.url, "reason": reason}
    client.xadd(
        keys.tenant_events(endpoint.tenant),
        {
            "type": "endpoint.disabled",
            "job_id": "",
            "time": now_iso(),
            "data": orjson.dumps(data).decode(),
        },  # fmt: skip
    )
