"""Request dependencies: the services in app state and the caller's tenant (bearer auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aredis
from fastapi import Depends, HTTPException, Request

from mistral_queue.api.auth_first import presented_key, static_tenant
from mistral_queue.api.fanout import Hub
from mistral_queue.broker.dispatch import Publisher
from mistral_queue.config import Settings
from mistral_queue.jobs.store import AsyncJobStore


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


async def get_tenant(request: Request, services: ServicesDep) -> str:
    """The tenant of the presented bearer key.

    ``auth_first.AuthFirst`` has checked the key before the body was read and left the tenant
    in the request state; without that middleware (an app built otherwise) it is checked here.

    Raises:
        HTTPException: 401 when the key is missing or unknown (the key itself is never logged).
    """
    tenant: str | None = getattr(request.state, "tenant", None)
    if tenant is None:
        presented = presented_key(request.headers.get("authorization"))
        tenant = static_tenant(services.settings, presented)
    if tenant is None:
        raise HTTPException(
            401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
