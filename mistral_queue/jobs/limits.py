"""A tenant's limits: ``MQ_TENANT_LIMITS`` (its own entry over ``"*"``), then a stored override.

Resolution, field by field, later wins: the :class:`~mistral_queue.config.TenantLimits`
defaults, the ``"*"`` entry, the tenant's own entry, then the managed tenant's ``limits``
(the admin API's JSON object, field ``limits`` of ``keys.tenant_record(tenant)``). Only the
fields each layer sets apply, so an override of ``{"weight": 3}`` keeps the configured budgets.
A stored override that is not valid JSON limits is ignored with a warning rather than
failing the tenant's jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
import redis
import redis.asyncio as aredis
from pydantic import ValidationError

from mistral_queue.config import Settings
from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs import keys

log = logging.getLogger(__name__)

#: The ``MQ_TENANT_LIMITS`` entry that applies to every tenant.
ANY_TENANT = "*"
#: Field of a managed tenant's record holding its ``limits`` (jobs/tenants.py).
LIMITS_FIELD = "limits"


def limits_for(
    settings: Settings, tenant: str, stored: Mapping[str, Any] | None = None
) -> TenantLimits:
    """The limits that apply to ``tenant``.

    Args:
        settings: holds ``tenant_limits`` (``MQ_TENANT_LIMITS``).
        tenant: the tenant id.
        stored: the override stored for the tenant (see :func:`read_stored`), if any.

    Returns:
        The merged limits; unset fields mean no limit (``weight`` 1, ``on_budget`` reject).
    """
    merged: dict[str, Any] = {}
    for layer in (settings.tenant_limits.get(ANY_TENANT), settings.tenant_limits.get(tenant)):
        if layer is not None:
            merged.update(layer.model_dump(exclude_unset=True))
    if stored:
        try:
            merged.update(TenantLimits.model_validate(stored).model_dump(exclude_unset=True))
        except ValidationError as exc:
            log.warning("ignoring the stored limits of tenant %s: %s", tenant, exc)
    return TenantLimits.model_validate(merged)


def _decode(tenant: str, raw: str | bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("ignoring the stored limits of tenant %s: not JSON", tenant)
        return None
    return value if isinstance(value, dict) else None


def read_stored(client: redis.Redis, tenant: str) -> dict[str, Any] | None:
    """The managed tenant's ``limits`` (admin API), or None."""
    raw: Any = client.hget(keys.tenant_record(tenant), LIMITS_FIELD)
    return _decode(tenant, raw)


async def read_stored_async(client: aredis.Redis, tenant: str) -> dict[str, Any] | None:
    """See :func:`read_stored`."""
    raw: Any = await client.hget(keys.tenant_record(tenant), LIMITS_FIELD)
    return _decode(tenant, raw)


def resolve(settings: Settings, client: redis.Redis, tenant: str) -> TenantLimits:
    """:func:`limits_for` with the managed tenant's limits read from Redis (one HGET)."""
    return limits_for(settings, tenant, read_stored(client, tenant))


async def resolve_async(settings: Settings, client: aredis.Redis, tenant: str) -> TenantLimits:
    """See :func:`resolve`."""
    return limits_for(settings, tenant, await read_stored_async(client, tenant))
