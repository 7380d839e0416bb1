"""``/v1/workflows/events/stream`` and ``/list``: job events as Mistral's Events API serves
them (``api/workflow_events.py`` has the mapping), tenant-scoped.

The stream takes the SDK's parameters: ``workflow_exec_id`` / ``root_workflow_exec_id`` name
a job (its stream ends after its final event); with neither, every job of the tenant is
streamed live without end (``broker_sequence`` then counts from the start of the tenant's
log); ``parent_workflow_exec_id`` matches nothing (no job has a parent). ``workflow_name``,
``workflow_event_types`` and ``metadata_filters`` (the SDK explodes the dict into
``key=value`` query parameters, matched against the job's ``metadata``) filter;
``start_seq`` and ``last_event_id`` (header ``last-event-id``) resume.
``scope``, ``activity_name``, ``activity_id`` and ``stream`` are accepted and ignored.
A job of another tenant, or none, gives an empty answer: nothing says whether it exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from mistral_queue.api.deps import Services, ServicesDep, TenantDep
from mistral_queue.api.fanout import Lagging
from mistral_queue.api.routes.events import PING_SECONDS, SSE_DOC
from mistral_queue.api.workflow_events import (
    FINAL_TYPES,
    Execution,
    sse_payload,
    workflow_events,
)
from mistral_queue.jobs import keys
from mistral_queue.jobs.events import Event, EventLog

router = APIRouter(tags=["events"])

#: An event id of ours: ``<stream entry id>-<n>``.
EVENT_ID = r"^\d{1,19}-\d{1,19}-\d{1,3}$"
#: A list cursor: the stream entry id of the last entry listed.
CURSOR = r"^\d{1,19}-\d{1,19}$"
_STREAM_PARAMS = frozenset({
    "scope", "activity_name", "activity_id", "workflow_name", "workflow_exec_id",
    "root_workflow_exec_id", "parent_workflow_exec_id", "stream", "start_seq",
    "workflow_event_types", "last_event_id",
})  # fmt: skip
Id = Annotated[str, Query(max_length=64)]


def _order(event_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in event_id.split("-"))


async def _execution(services: Services, tenant: str, job_id: str) -> Execution | None:
    record = await services.store.get(job_id, tenant=tenant)
    return None if record is None else Execution.of(record)


def _job_of(*ids: str | None) -> str | None:
    named = {i for i in ids if i and i != "*"}
    if len(named) > 1:
        return ""  # two different executions: nothing is both
    return named.pop() if named else None


@router.get("/v1/workflows/events/stream", response_class=EventSourceResponse, responses=SSE_DOC)
async def stream_events(
    request: Request,
    tenant: TenantDep,
    services: ServicesDep,
    workflow_exec_id: Id = "*",
    root_workflow_exec_id: Id = "*",
    parent_workflow_exec_id: Id = "*",
    workflow_name: Id = "*",
    workflow_event_types: Annotated[list[str], Query()] = [],  # noqa: B006
    start_seq: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(alias="last-event-id", pattern=EVENT_ID)] = None,
) -> EventSourceResponse:
    """One job's workflow events from ``start_seq`` (or after ``last_event_id``), live until
    the execution ends."""
    job_id = _job_of(workflow_exec_id, root_workflow_exec_id)
    filters = {k: v for k, v in request.query_params.items() if k not in _STREAM_PARAMS}
    after = _order(last_event_id) if last_event_id else None
    select = _Select(workflow_name, filters, set(workflow_event_types), start_seq, after)
    if parent_workflow_exec_id != "*" or job_id == "":
        return EventSourceResponse(_nothing(), ping=PING_SECONDS)
    if job_id is None:
        # Every execution of the tenant, live and without end (Mistral's "*").
        events = services.hub.follow(keys.tenant_events(tenant), None)
        frames = _frames(events, _Executions(services, tenant), select)
        return EventSourceResponse(frames, ping=PING_SECONDS)
    execution = await _execution(services, tenant, job_id)
    if execution is None:
        return EventSourceResponse(_nothing(), ping=PING_SECONDS)

    async def still_open() -> bool:
        record = await services.store.get(execution.job_id)
        return record is not None and not record.is_final

    events = services.hub.follow(
        keys.job_events(execution.job_id), None, stop=lambda e: e.is_final, still_open=still_open
    )
    frames = _frames(events, _Executions(services, tenant, execution), select, single=True)
    return EventSourceResponse(frames, ping=PING_SECONDS)


@dataclass(frozen=True)
class _Select:
    """The stream's filters and resume point."""

    workflow_name: str
    metadata: dict[str, str]
    types: set[str]
    start_seq: int
    after: tuple[int, ...] | None

    def keeps(self, item: dict[str, Any], number: int, execution: Execution) -> bool:
        if number < self.start_seq or (self.after and _order(item["event_id"]) <= self.after):
            return False
        if self.types and item["event_type"] not in self.types:
            return False
        return execution.matches(self.workflow_name, self.metadata)


class _Executions:
    """The executions (jobs) a stream meets, looked up once each, the tenant's only."""

    #: Jobs remembered per stream before the memory starts afresh.
    LIMIT = 10_000

    def __init__(self, services: Services, tenant: str, known: Execution | None = None) -> None:
        self.services = services
        self.tenant = tenant
        self.known: dict[str, Execution | None] = {known.job_id: known} if known else {}

    async def get(self, job_id: str) -> Execution | None:
        if job_id not in self.known:
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            self.known[job_id] = await _execution(self.services, self.tenant, job_id)
        return self.known[job_id]


async def _nothing() -> AsyncIterator[dict[str, str]]:
    return
    yield  # pragma: no cover - makes this an async generator


async def _frames(
    events: AsyncIterator[Event], executions: _Executions, select: _Select, single: bool = False
) -> AsyncIterator[dict[str, str]]:
    """SSE frames of the workflow events ``select`` keeps; a ``single`` execution's stream
    ends after its final event."""
    sequence = 0
    try:
        async for event in events:
            execution = await executions.get(event.job_id)
            if execution is None:
                continue
            for item in workflow_events(event, execution):
                number, sequence = sequence, sequence + 1
                if select.keeps(item, number, execution):
                    data = orjson.dumps(sse_payload(item, number, execution)).decode()
                    yield {"id": item["event_id"], "event": item["event_type"], "data": data}
                if single and item["event_type"] in FINAL_TYPES:
                    return
    except Lagging:
        # The client resumes with last_event_id.
        return


@router.get("/v1/workflows/events/list")
async def list_events(
    tenant: TenantDep,
    services: ServicesDep,
    workflow_exec_id: Annotated[str | None, Query(max_length=64)] = None,
    root_workflow_exec_id: Annotated[str | None, Query(max_length=64)] = None,
    workflow_run_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=CURSOR)] = None,
) -> dict[str, Any]:
    """``{"events", "next_cursor"}``: one job's workflow events, or (no id given) those of
    every job of the tenant, oldest first. An entry's events are never split over two pages,
    so a page may hold one more than ``limit``; ``next_cursor`` is null on the last page."""
    job_id = _job_of(workflow_exec_id, root_workflow_exec_id, workflow_run_id)
    if job_id == "":
        return {"events": [], "next_cursor": None}
    known: dict[str, Execution | None] = {}
    if job_id is not None:
        known[job_id] = await _execution(services, tenant, job_id)
        if known[job_id] is None:
            return {"events": [], "next_cursor": None}
    key = keys.tenant_events(tenant) if job_id is None else keys.job_events(job_id)
    log = EventLog(services.stream_redis)
    found: list[dict[str, Any]] = []
    position = cursor
    while True:
        page = await log.page(key, position, limit)
        for used, event in enumerate(page, 1):
            if event.job_id not in known:
                known[event.job_id] = await _execution(services, tenant, event.job_id)
            execution = known[event.job_id]
            found += workflow_events(event, execution) if execution else []
            position = event.id
            if len(found) >= limit:
                more = used < len(page) or len(page) == limit
                return {"events": found, "next_cursor": position if more else None}
        if len(page) < limit:
            return {"events": found, "next_cursor": None}
