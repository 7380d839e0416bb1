"""Request and response bodies of ``/v1/endpoints`` (the Svix endpoint model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from mistral_queue.api.schemas.common import HTTP_URL
from mistral_queue.webhooks.endpoints import Endpoint

#: An event type: dotted names of ``[a-zA-Z0-9_]`` (Standard Webhooks §Payload).
EVENT_TYPE = r"^[a-zA-Z0-9_]+(\.[a-zA-Z0-9_]+)*$"

EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE, max_length=100)]


class EndpointCreate(BaseModel):
    """``POST /v1/endpoints``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=HTTP_URL, max_length=2048)
    #: Event types to deliver (``job.succeeded``, ``job.failed``...); omitted or null: all.
    event_types: list[EventType] | None = Field(default=None, max_length=50)
    description: str = Field(default="", max_length=1000)
    disabled: bool = False
    #: Attempts per second at most.
    rate_limit: int | None = Field(default=None, gt=0, le=10_000)


class EndpointUpdate(BaseModel):
    """``PATCH /v1/endpoints/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=HTTP_URL, max_length=2048)
    event_types: list[EventType] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=1000)
    disabled: bool | None = None
    rate_limit: int | None = Field(default=None, gt=0, le=10_000)


class EndpointList(BaseModel):
    """A page of endpoints, oldest first."""

    data: list[Endpoint]
    next_cursor: str | None = None


class EndpointSecret(BaseModel):
    """An endpoint's current signing secret."""

    key: str


class Attempt(BaseModel):
    """One delivery attempt to an endpoint."""

    id: str
    job_id: str
    event_type: str
    webhook_id: str
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: str


class AttemptList(BaseModel):
    """A page of attempts, newest first."""

    data: list[Attempt]
    next_cursor: str | None = None


class RecoverRequest(BaseModel):
    """``POST /v1/endpoints/{id}/recover``: re-send what failed since ``since``."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime


class RecoverResult(BaseModel):
    """How many failed messages were queued again."""

    recovered: int
    since: datetime
