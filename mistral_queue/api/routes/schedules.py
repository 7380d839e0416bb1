"""``/v1/schedules``: recurring jobs by ``cron`` or ``every_seconds`` (docs/scheduling.md)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mistral_queue.api.deps import Services, ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.intake.lanes import check_lanes
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.routes.jobs import ERRORS
from mistral_queue.api.schemas.agent import check_tool_urls
from mistral_queue.api.schemas.jobs import AgentJobCreate, BatchJobCreate, JobCreate, request_body
from mistral_queue.jobs import keys
from mistral_queue.jobs import schedule as sched
from mistral_queue.jobs.model import now_iso
from mistral_queue.webhooks.guard import check_url_async

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], route_class=OrjsonRoute)

#: Most schedules one tenant may have.
MAX_SCHEDULES = 1000
#: Longest ``every_seconds``: one year.
MAX_EVERY = 366 * 24 * 3600.0


class ScheduleCreate(BaseModel):
    """A recurring job: ``cron`` (in ``timezone``) or ``every_seconds``, and the job body."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, max_length=200, description="m h dom mon dow")
    every_seconds: float | None = Field(default=None, ge=1, le=MAX_EVERY)
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone of `cron`")
    job: JobCreate
    paused: bool = False

    @model_validator(mode="after")
    def _one_rule(self) -> ScheduleCreate:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("give exactly one of cron or every_seconds")
        return self


class ScheduleUpdate(BaseModel):
    """``{"paused": true}`` pauses a schedule; ``false`` resumes it from now."""

    model_config = ConfigDict(extra="forbid")

    paused: bool


class ScheduleList(BaseModel):
    """The tenant's schedules, newest first."""

    data: list[sched.Schedule]


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _invalid(field: str, message: str) -> ApiError:
    details = [{"field": field, "message": message, "type": "value_error"}]
    return ApiError(422, "validation_error", f"{field}: {message}", details)


async def _job_body(body: ScheduleCreate, services: Services, tenant: str) -> dict[str, Any]:
    """The job each firing submits, checked as ``POST /v1/jobs`` would check it."""
    job = body.job
    if isinstance(job, BatchJobCreate):
        raise _invalid("job.type", "a schedule cannot fire batch jobs")
    for name in ("run_at", "delay_seconds", "depends_on"):
        if getattr(job, name) is not None:
            raise _invalid(f"job.{name}", "not allowed in a schedule's job")
    allow = services.settings.callback_allow_hosts
    if job.callback_url:
        await check_url_async(job.callback_url, allow)
    if isinstance(job, AgentJobCreate):
        await check_tool_urls(job.request, allow)
    await check_lanes(services.redis, services.settings, tenant, job)
    return {"type": job.type, "request": request_body(job), "callback_url": job.callback_url,
            "metadata": job.metadata, "priority": job.priority}  # fmt: skip


def _spec(body: ScheduleCreate) -> dict[str, str]:
    try:
        sched.zone(body.timezone)
        if body.cron is not None:
            sched.check_cron(body.cron, body.timezone)
            return {"cron": body.cron, "timezone": body.timezone}
    except sched.ScheduleError as exc:
        raise _invalid(exc.field, str(exc).removeprefix(f"{exc.field}: ")) from None
    return {"every_seconds": repr(body.every_seconds), "timezone": body.timezone}


async def _owned(services: Services, schedule_id: str, tenant: str) -> dict[str, str]:
    raw: dict[str, str] = await services.redis.hgetall(keys.schedule(schedule_id))  # type: ignore[assignment]
    if not raw or raw.get("tenant") != tenant:
        raise ApiError(404, "not_found", f"no schedule {schedule_id}")
    return raw


@router.post("", status_code=201, response_model=sched.Schedule, responses=ERRORS)
async def create_schedule(
    body: ScheduleCreate, tenant: TenantDep, services: ServicesDep
) -> sched.Schedule:
    """Create a schedule; each tick creates one ordinary job with ``metadata.schedule_id``."""
    spec = _spec(body)
    job = await _job_body(body, services, tenant)
    client = services.redis
    if await client.zcard(keys.tenant_schedules(tenant)) >= MAX_SCHEDULES:
        raise ApiError(409, "conflict", f"a tenant may have at most {MAX_SCHEDULES} schedules")
    now = time.time()
    schedule_id = sched.new_schedule_id()
    following = sched.next_tick(spec, now)
    fields = {"id": schedule_id, "tenant": tenant, **spec, "job": orjson.dumps(job).decode(),
              "paused": "1" if body.paused else "0", "created_at": now_iso(),
              "next_run_ts": repr(following)}  # fmt: skip
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.schedule(schedule_id), items=_flat(fields))
        pipe.zadd(keys.tenant_schedules(tenant), {schedule_id: int(now * 1000)})
        if not body.paused:
            pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: following})
        await pipe.execute()
    return sched.Schedule.from_hash(fields)


@router.get("", response_model=ScheduleList, responses=ERRORS)
async def list_schedules(tenant: TenantDep, services: ServicesDep) -> ScheduleList:
    """Every schedule of the tenant (at most ``MAX_SCHEDULES``), newest first."""
    ids = await services.redis.zrevrange(keys.tenant_schedules(tenant), 0, MAX_SCHEDULES - 1)
    pipe = services.redis.pipeline(transaction=False)
    for schedule_id in ids:
        pipe.hgetall(keys.schedule(str(schedule_id)))
    raws = await pipe.execute() if ids else []
    return ScheduleList(data=[sched.Schedule.from_hash(r) for r in raws if r])


ScheduleId = Annotated[str, Field(max_length=100)]


@router.get("/{schedule_id}", response_model=sched.Schedule, responses=ERRORS)
async def get_schedule(
    schedule_id: ScheduleId, tenant: TenantDep, services: ServicesDep
) -> sched.Schedule:
    """One schedule; another tenant's is 404."""
    return sched.Schedule.from_hash(await _owned(services, schedule_id, tenant))


@router.patch("/{schedule_id}", response_model=sched.Schedule, responses=ERRORS)
async def update_schedule(
    schedule_id: ScheduleId, body: ScheduleUpdate, tenant: TenantDep, services: ServicesDep
) -> sched.Schedule:
    """Pause (no ticks fire) or resume (the next tick after now fires)."""
    raw = await _owned(services, schedule_id, tenant)
    client = services.redis
    if body.paused:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.schedule(schedule_id), "paused", "1")
            pipe.zrem(keys.SCHEDULES_DUE, schedule_id)
            await pipe.execute()
    elif raw.get("paused") == "1":
        last = float(raw["last_run_ts"]) if raw.get("last_run_ts") else None
        following = sched.next_tick(raw, time.time(), last)
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.schedule(schedule_id),
                items=_flat({"paused": "0", "next_run_ts": repr(following)}),
            )
            pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: following})
            await pipe.execute()
    return sched.Schedule.from_hash(await _owned(services, schedule_id, tenant))


@router.delete("/{schedule_id}", status_code=204, responses=ERRORS)
async def delete_schedule(
    schedule_id: ScheduleId, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Delete the schedule; jobs it already created are kept."""
    await _owned(services, schedule_id, tenant)
    async with services.redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.schedule(schedule_id))
        pipe.zrem(keys.SCHEDULES_DUE, schedule_id)
        pipe.zrem(keys.tenant_schedules(tenant), schedule_id)
        await pipe.execute()
    return Response(status_code=204)
