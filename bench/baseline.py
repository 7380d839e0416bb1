"""The baselines each benchmark runs beside ours in the same run (perf-baseline.md §Method).

- ``celery_app``: plain Celery on Redis (acks late, results ignored, prefetch 1) with
  ``bench.noop`` (the raw drain) and ``bench.chat``: one httpx POST of a chat completion to
  the emulator through a per-thread client, then, when ``BENCH_SINK_URL`` is set, one POST of
  ``{"data": {"id": job_id}}`` to the sink (a bare "callback", unsigned).
- ``intake``: plain FastAPI: validate the body, ``HSET`` the record with redis.asyncio, then
  ``send_task`` (blocking the event loop, as naive code does) and answer 202.

Both run as subprocesses (``celery -A bench.baseline:celery_app worker``, ``uvicorn
bench.baseline:intake``), so they are configured by environment: ``BENCH_BROKER_URL`` (also the
intake's Redis), ``BENCH_EMULATOR_URL`` and ``BENCH_SINK_URL``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import httpx
import orjson
import redis.asyncio as aredis
from celery import Celery
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field, HttpUrl

from mistral_queue.green import is_green

#: The queue every baseline task goes to.
QUEUE = "bench"
#: The chat completion body both sides send upstream.
CHAT_REQUEST: dict[str, Any] = {
    "model": "mistral-small-latest",
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
}


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


celery_app = Celery("bench", broker=_env("BENCH_BROKER_URL", "redis://127.0.0.1:1/0"))
celery_app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_transport_options={"max_connections": 1024},
    worker_hijack_root_logger=False,
)

_local = threading.local()


class _Shared:
    client: httpx.Client | None = None


def _client() -> httpx.Client:
    # Green pools run each task in a new greenlet: share one client, as a sensible app does.
    if is_green():
        if _Shared.client is None:
            limits = httpx.Limits(max_connections=None, keepalive_expiry=4.0)
            _Shared.client = httpx.Client(timeout=30, limits=limits)
        return _Shared.client
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(timeout=30, limits=httpx.Limits(keepalive_expiry=4.0))
        _local.client = client
    return client


@celery_app.task(name="bench.noop")
def noop() -> None:
    """Nothing: the raw cost of a Celery message."""


@celery_app.task(name="bench.chat")
def chat(job_id: str) -> None:
    """One chat completion call upstream, then the bare callback when a sink is configured."""
    client = _client()
    response = client.post(
        _env("BENCH_EMULATOR_URL") + "/v1/chat/completions",
        json=CHAT_REQUEST,
        headers={"Authorization": "Bearer bench", "X-Request-ID": f"{job_id}:1"},
    )
    response.raise_for_status()
    sink = _env("BENCH_SINK_URL")
    if sink:
        client.post(sink, content=orjson.dumps({"data": {"id": job_id}})).raise_for_status()


class JobIn(BaseModel):
    """The same body our intake takes, validated as loosely as a first version would."""

    type: str = Field(max_length=16)
    request: dict[str, Any]
    callback_url: HttpUrl | None = None
    metadata: dict[str, str] = Field(default_factory=dict, max_length=16)


intake = FastAPI()
_redis: aredis.Redis | None = None


@intake.post("/v1/jobs", status_code=202)
async def create_job(job: JobIn) -> Response:
    """Store the record, publish the task the ordinary way, answer 202."""
    global _redis
    if _redis is None:
        _redis = aredis.Redis.from_url(_env("BENCH_BROKER_URL"))
    job_id = f"job_{uuid.uuid4().hex}"
    record: dict[str | bytes, str | bytes | float] = {
        "id": job_id,
        "type": job.type,
        "request": orjson.dumps(job.request),
        "callback_url": str(job.callback_url or ""),
        "created_at": time.time(),
    }
    await _redis.hset(f"job:{job_id}", mapping=record)  # type: ignore[arg-type]
    celery_app.send_task("bench.chat", args=[job_id], task_id=job_id, queue=QUEUE)
    body = orjson.dumps({"id": job_id, "status": "queued"})
    return Response(body, status_code=202, media_type="application/json")
