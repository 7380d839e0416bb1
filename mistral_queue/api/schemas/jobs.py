"""Request and response bodies of the intake API.

Our envelope (``type``, ``request``, ``callback_url``, ``metadata``) forbids unknown fields; the
``request`` is Mistral's own body for the job's kind and passes through as Mistral defines it,
so it only checks what Mistral requires and keeps every other field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mistral_queue.api.schemas.agent import AgentRequest
from mistral_queue.api.schemas.batch import BatchRequest
from mistral_queue.api.schemas.common import HTTP_URL, ChatMessage
from mistral_queue.api.schemas.endpoints import (
    EmbeddingsRequest,
    FIMRequest,
    InputRequest,
    OCRRequest,
)
from mistral_queue.jobs.dependencies import MAX_DEPENDENCIES, placeholders
from mistral_queue.jobs.model import Job

#: Most keys a job's ``metadata`` may carry.
MAX_METADATA_KEYS = 50


class ChatRequest(BaseModel):
    """A Mistral chat completion body (``POST /v1/chat/completions``)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


class _JobCreateBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=HTTP_URL,
        json_schema_extra={"format": "uri"},
        description=(
            "Where the signed callback is POSTed when the job ends (http or https). Hosts "
            "that resolve to private, loopback, link-local or metadata addresses are refused."
        ),
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_METADATA_KEYS,
        description="Your own data, returned on the job and in its callbacks.",
    )
    priority: int = Field(
        default=5,
        ge=0,
        le=9,
        description=(
            "0-9, 9 most urgent: orders this tenant's waiting jobs, with aging so that low "
            "priorities never starve (docs/fairness.md)."
        ),
    )
    run_at: AwareDatetime | None = Field(
        default=None,
        description="Run the job at this time (RFC 3339); it is `scheduled` until then.",
    )
    delay_seconds: float | None = Field(
        default=None, ge=0, description="Run the job this many seconds after it is accepted."
    )
    depends_on: list[Annotated[str, Field(pattern=r"^job_\w{1,64}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DEPENDENCIES,
        description=(
            "Jobs of yours that must succeed first; the job is `waiting` until then. Its "
            '`request` may hold `{"$from": "<one of them>", "pointer": "<RFC 6901>"}` values.'
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _references_as_text(cls, data: Any) -> Any:
        # A reference stands for a value known only later: the request is checked with each
        # one as a string, and stored with the references themselves (api/intake/chains.py).
        # Only a job with depends_on has references: others skip the walk (intake speed).
        chained = isinstance(data, dict) and data.get("type") != "batch"
        if chained and data.get("depends_on") and isinstance(data.get("request"), dict):
            return {**data, "request": placeholders(data["request"])}
        return data

    @model_validator(mode="after")
    def _one_start_time(self) -> _JobCreateBase:
        if self.run_at is not None and self.delay_seconds is not None:
            raise ValueError("give run_at or delay_seconds, not both")
        return self


class ChatJobCreate(_JobCreateBase):
    """A chat job: ``request`` is sent to ``POST /v1/chat/completions``."""

    type: Literal["chat"]
    request: ChatRequest


class AgentJobCreate(_JobCreateBase):
    """An agent job: an agents completion or a conversation, with tool calls (docs/agents.md)."""

    type: Literal["agent"]
    request: AgentRequest


class BatchJobCreate(_JobCreateBase):
    """A batch job: many requests to one endpoint, in mode api or direct (docs/batch.md)."""

    type: Literal["batch"]
    request: BatchRequest


class EmbeddingsJobCreate(_JobCreateBase):
    """Embeddings: ``input`` split into ``/v1/embeddings`` calls; vectors in ``/results``."""

    type: Literal["embeddings"]
    request: EmbeddingsRequest


class OCRJobCreate(_JobCreateBase):
    """OCR of a document or image: ``POST /v1/ocr``; pages in ``/results``."""

    type: Literal["ocr"]
    request: OCRRequest


class ModerationJobCreate(_JobCreateBase):
    """Moderation: ``POST /v1/moderations`` (text) or ``/v1/chat/moderations`` (messages)."""

    type: Literal["moderation"]
    request: InputRequest


class ClassificationJobCreate(_JobCreateBase):
    """Classification: ``/v1/classifications`` (text) or ``/v1/chat/classifications``."""

    type: Literal["classification"]
    request: InputRequest


class FIMJobCreate(_JobCreateBase):
    """Fill-in-the-middle: ``POST /v1/fim/completions``, streamed as ``job.delta`` if asked."""

    type: Literal["fim"]
    request: FIMRequest


#: Job kinds whose ``request`` is one Mistral body, stored as the caller sent it.
SingleJobCreate = (
    ChatJobCreate
    | AgentJobCreate
    | EmbeddingsJobCreate
    | OCRJobCreate
    | ModerationJobCreate
    | ClassificationJobCreate
    | FIMJobCreate
)

JobCreate = Annotated[SingleJobCreate | BatchJobCreate, Field(discriminator="type")]


class JobList(BaseModel):
    """A page of jobs, newest first."""

    data: list[Job]
    next_cursor: str | None = None


class EventPage(BaseModel):
    """A page of events; pass ``next_cursor`` as ``after`` to continue."""

    data: list[dict[str, Any]]
    next_cursor: str | None = None
    has_more: bool = False


class ErrorDetail(BaseModel):
    """The body of every error response."""

    type: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """``{"error": {"type", "message", "details"}}``."""

    error: ErrorDetail


def request_body(job: SingleJobCreate) -> dict[str, Any]:
    """The Mistral request exactly as the caller sent it (no defaults added)."""
    return job.request.model_dump(mode="json", exclude_unset=True)
