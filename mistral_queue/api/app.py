"""The FastAPI intake application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aredis
from fastapi import FastAPI

from mistral_queue import __version__, tracing
from mistral_queue.api import errors
from mistral_queue.api.auth_first import AuthFirst
from mistral_queue.api.body_limits import BodyLimit, HeaderLimit
from mistral_queue.api.deps import Services
from mistral_queue.api.fanout import Hub
from mistral_queue.api.routes import (
    admin,
    agent,
    bulk,
    console,
    endpoints,
    events,
    health,
    jobs,
    metrics,
    rerun,
    results,
    schedules,
    usage,
    webhook_secret,
    workflow_events,
)
from mistral_queue.broker.dispatch import Publisher
from mistral_queue.config import Settings, get_settings
from mistral_queue.jobs.store import AsyncJobStore


def build_services(settings: Settings) -> Services:
    """Open the Redis pool and the broker producer the routes share."""
    client = aredis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=25,
        max_connections=256,
    )
    store = AsyncJobStore(
        client,
        retention=settings.job_retention_seconds,
        idempotency_ttl=settings.idempotency_ttl_seconds,
    )
    streams = aredis.Redis(
        connection_pool=aredis.BlockingConnectionPool.from_url(
            settings.redis_url, decode_responses=True, max_connections=2048, timeout=30,
            socket_connect_timeout=2, socket_timeout=30,
        )
    )  # fmt: skip
    return Services(
        settings=settings,
        redis=client,
        stream_redis=streams,
        store=store,
        publisher=Publisher(settings),
        hub=Hub(streams),
        broker_redis=_broker_redis(settings, client),
    )


def _broker_redis(settings: Settings, client: aredis.Redis) -> aredis.Redis | None:
    if not settings.broker.startswith(("redis://", "rediss://")):
        return None
    if settings.broker == settings.redis_url:
        return client
    return aredis.Redis.from_url(settings.broker, socket_timeout=5, socket_connect_timeout=2)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The intake API for ``settings`` (default: read from the environment).

    Raises:
        ConfigError: no API key or webhook secret is configured.
    """
    settings = settings or get_settings()
    settings.require("api_keys", "webhook_secret")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.hub.close()
            await services.publisher.aclose()
            await services.redis.aclose()
            await services.stream_redis.aclose()

    app = FastAPI(
        title="mistral-queue",
        version=__version__,
        description="Background jobs for the Mistral API with signed webhook callbacks.",
        lifespan=lifespan,
    )
    errors.install(app)
    tracing.instrument_api(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(rerun.router)
    app.include_router(bulk.router)
    app.include_router(schedules.router)
    app.include_router(jobs.router)
    app.include_router(results.router)
    app.include_router(agent.router)
    app.include_router(events.router)
    app.include_router(webhook_secret.router)
    app.include_router(admin.router)
    app.include_router(workflow_events.router)
    app.include_router(usage.router)
    app.include_router(endpoints.router)
    console.install(app)
    # Batch bodies may be larger than other requests; the route holds others to the default.
    batch_limit = settings.max_body_bytes + settings.batch_max_bytes
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        # A bulk request may be as large as a batch job's.
        overrides={("POST", "/v1/jobs"): batch_limit, ("POST", "/v1/jobs/bulk"): batch_limit},
    )
    # Outermost last: headers are bounded, then the key is checked, then the body is read.
    app.add_middleware(AuthFirst, settings=settings)
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    return app
