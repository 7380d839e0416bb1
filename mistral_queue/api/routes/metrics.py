"""``/metrics``: the deployment's Prometheus metrics (no auth, like /healthz)."""

from __future__ import annotations

import redis.asyncio as aredis
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mistral_queue.api.deps import ServicesDep
from mistral_queue.broker.names import ALL_QUEUES
from mistral_queue.jobs import keys
from mistral_queue.metrics import registry_for

router = APIRouter(tags=["health"])


async def _queue_depths(broker: aredis.Redis | None) -> dict[str, int]:
    if broker is None:
        # RabbitMQ reports queue depths itself (management plugin, Flower --broker-api).
        return {}
    pipe = broker.pipeline(transaction=False)
    for queue in ALL_QUEUES:
        pipe.llen(queue)
    lengths = await pipe.execute()
    return dict(zip(ALL_QUEUES, (int(n) for n in lengths), strict=True))


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Counters and histograms of every API and worker process, in Prometheus text format."""
    values: dict[str, str] = await services.redis.hgetall(keys.METRICS)  # type: ignore[assignment]
    depths = await _queue_depths(services.broker_redis)
    body = generate_latest(registry_for(values, depths))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
