"""Request dependencies: the services in app state and the caller's tenant (bearer auth)."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aredis
from fastapi import Depends, HTTPException, Request

from mistral_queue.api.fanout import Hub
from mistral_queue.broker.dispatch import Publisher
from mistral_queue.config import Settings
from mistral_queue.jobs.store import AsyncJobStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the API's routes share, built once at start-up."""

    settings: Settings
    redis: aredis.Redis
    #: A separate pool for blocking stream reads, so SSE subscribers cannot starve requests.
    stream_redis: aredis.Redis
    store: AsyncJobStore
    publisher: Publisher
    #: Shared stream readers for SSE subscribers.
    hub: Hub
    #: The broker's Redis (queue depths), or None when the broker is not Redis.
    broker_redis: aredis.Redis | None = None


# Both dependencies are async although they never await: FastAPI runs sync dependencies in
# its thread pool, which cost about 12% of the API's CPU at full intake (bench/RESULTS.md).
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _presented_key(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_tenant(request: Request, services: ServicesDep) -> str:
    """The tenant of the presented bearer key.

    Every configured key is compared in constant time, so timing does not reveal a prefix.

    Raises:
        HTTPException: 401 when the key is missing or unknown (the key itself is never logged).
    """
    presented = _presented_key(request)
    tenant = None
    if presented is not None:
        given = presented.encode()
        for api_key in services.settings.api_keys:
            if hmac.compare_digest(given, api_key.key.get_secret_value().encode()):
                tenant = api_key.tenant
    if tenant is None:
        client = request.client.host if request.client else "?"
        log.warning(
            "rejected request from %s: %s API key", client, "no" if presented is None else "unknown"
        )
        raise HTTPException(
            401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
