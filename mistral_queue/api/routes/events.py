"""Event streams: one job's log and the tenant's log, as Server-Sent Events or JSON pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.fanout import Lagging
from mistral_queue.api.routes.jobs import ERRORS
from mistral_queue.api.schemas.jobs import EventPage
from mistral_queue.jobs import keys
from mistral_queue.jobs.errors import JobNotFound
from mistral_queue.jobs.events import POSITION, Event, EventLog

router = APIRouter(tags=["events"])

#: Seconds between keep-alive comments on an idle stream.
PING_SECONDS = 15

SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `id:` log position, `event:` type, `data:` JSON event.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **ERRORS,
}

LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", pattern=POSITION, description="Resume after this event id."),
]
After = Annotated[
    str | None,
    Query(pattern=POSITION, description="Resume after this event id (as Last-Event-ID)."),
]


def _frame(event: Event) -> dict[str, str]:
    return {"id": event.id, "event": event.type, "data": orjson.dumps(event.as_dict()).decode()}


async def _frames(events: AsyncIterator[Event]) -> AsyncIterator[dict[str, str]]:
    try:
        async for event in events:
            yield _frame(event)
    except Lagging:
        # The stream ends; the client's automatic reconnect resumes with Last-Event-ID.
        return


@router.get("/v1/jobs/{job_id}/events", response_class=EventSourceResponse, responses=SSE_DOC)
async def job_events(
    job_id: str,
    tenant: TenantDep,
    services: ServicesDep,
    last_event_id: LastEventId = None,
    after: After = None,
) -> EventSourceResponse:
    """The job's event log from the start (or after a position), then live until it ends."""
    position = last_event_id or after
    if await services.store.get(job_id, tenant=tenant) is None:
        raise JobNotFound(job_id)

    async def still_open() -> bool:
        record = await services.store.get(job_id)
        return record is not None and not record.is_final

    events = services.hub.follow(
        keys.job_events(job_id), position, stop=lambda e: e.is_final, still_open=still_open
    )
    return EventSourceResponse(_frames(events), ping=PING_SECONDS)


def _matcher(job_id: str | None, types: list[str]) -> Any:
    def keep(event: Event) -> bool:
        return (job_id is None or event.job_id == job_id) and (not types or event.type in types)

    return keep


@router.get("/v1/events", responses={**SSE_DOC, 200: {**SSE_DOC[200], "model": EventPage}})
async def tenant_events(
    tenant: TenantDep,
    services: ServicesDep,
    last_event_id: LastEventId = None,
    after: After = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[list[str], Query(description="Event types to keep (repeatable).")] = [],  # noqa: B006
    format: Annotated[str, Query(pattern="^(sse|json)$")] = "sse",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The tenant's events (all its jobs), live as SSE, or one JSON page with ``format=json``."""
    position = last_event_id or after
    keep = _matcher(job_id, type)
    key = keys.tenant_events(tenant)
    log = EventLog(services.stream_redis)
    if format == "json":
        scanned = await log.page(key, position, limit)
        cursor = scanned[-1].id if scanned else position
        data = [e.as_dict() for e in scanned if keep(e)]
        return EventPage(data=data, next_cursor=cursor, has_more=len(scanned) == limit)
    return EventSourceResponse(
        _frames(services.hub.follow(key, position, keep=keep)), ping=PING_SECONDS
    )
