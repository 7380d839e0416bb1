"""Agent job input: the two request shapes, HTTP tool URLs, and posted tool results.

``request`` is an agents completion body (``agent_id``, ``messages``; mistral-api.md §1
``POST /v1/agents/completions``) or a conversation body (``agent_id`` or ``model``, ``inputs``,
or ``conversation_id`` to continue one; ``POST /v1/conversations``). Unknown fields pass through
to Mistral. Our extensions, never sent upstream: ``max_steps`` and a function tool's ``url``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.common import HTTP_URL, ChatMessage
from mistral_queue.jobs.agent import ToolCall, ToolResult
from mistral_queue.mistral.ids import UPSTREAM_ID_PATTERN
from mistral_queue.webhooks.errors import UnsafeReason, UnsafeURLError
from mistral_queue.webhooks.guard import check_url_async

#: Upstream calls an agent job may make (``max_steps``), by default and at most.
DEFAULT_MAX_STEPS = 8
MAX_STEPS_LIMIT = 100


class FunctionSpec(BaseModel):
    """A function tool's definition (``name``, ``description``, ``parameters``, ``strict``)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=256)


class AgentTool(BaseModel):
    """A tool: ``{"type": "function", "function": {...}}`` or a connector (``web_search`` …)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=100)
    function: FunctionSpec | None = None
    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=HTTP_URL,
        json_schema_extra={"format": "uri"},
        description=(
            "Our extension, stripped before the tool is sent to Mistral: the worker POSTs each "
            "call of this function here (signed like a callback) and uses the answer as the "
            "result. https, except for hosts in MQ_CALLBACK_ALLOW_HOSTS."
        ),
    )

    @model_validator(mode="after")
    def _function_fields(self) -> AgentTool:
        if self.type == "function" and self.function is None:
            raise ValueError("a function tool needs 'function'")
        if self.url is not None and self.type != "function":
            raise ValueError("only a function tool may have a 'url'")
        return self


class _AgentRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    tools: list[AgentTool] | None = None
    max_steps: int = Field(
        default=DEFAULT_MAX_STEPS,
        ge=1,
        le=MAX_STEPS_LIMIT,
        description="Our extension: most upstream calls the job makes; more fails the job.",
    )
    stream: bool = Field(
        default=False,
        description="Stream every step from Mistral: its text arrives as job.delta events.",
    )

    @field_validator("tools")
    @classmethod
    def _unique_tool_urls(cls, tools: list[AgentTool] | None) -> list[AgentTool] | None:
        names = [t.function.name for t in tools or [] if t.url and t.function]
        if len(names) != len(set(names)):
            raise ValueError("two tools with a url have the same function name")
        return tools


class AgentCompletionRequest(_AgentRequest):
    """An agents completion: sent to ``POST /v1/agents/completions``."""

    agent_id: str = Field(min_length=1, max_length=200, pattern=UPSTREAM_ID_PATTERN)
    messages: list[ChatMessage] = Field(min_length=1)


class ConversationRequest(_AgentRequest):
    """A conversation: started with an agent or a model, or continued by ``conversation_id``."""

    inputs: (
        Annotated[str, Field(min_length=1)] | Annotated[list[dict[str, Any]], Field(min_length=1)]
    )
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=UPSTREAM_ID_PATTERN
    )
    model: str | None = Field(default=None, min_length=1, max_length=200)
    agent_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=UPSTREAM_ID_PATTERN,
        validate_default=True,
    )
    completion_args: dict[str, Any] | None = None
    handoff_execution: Literal["client", "server"] | None = None
    store: bool | None = None

    @field_validator("model")
    @classmethod
    def _model_starts_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("conversation_id"):
            raise ValueError("not allowed with conversation_id (the conversation has its own)")
        return value

    @field_validator("agent_id")
    @classmethod
    def _agent_or_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("conversation_id"):
            if value is not None:
                raise ValueError("not allowed with conversation_id (the conversation has its own)")
        elif value is None and info.data.get("model") is None:
            raise ValueError("give agent_id or model (or conversation_id to continue one)")
        elif value is not None and info.data.get("model") is not None:
            raise ValueError("give agent_id or model, not both")
        return value

    @field_validator("store")
    @classmethod
    def _stored(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError("must not be false: the job appends to its conversation")
        return value


def _shape(value: Any) -> str:
    has_messages = "messages" in value if isinstance(value, dict) else hasattr(value, "messages")
    return "completion" if has_messages else "conversation"


#: The ``request`` of an agent job: ``messages`` makes it a completion, else a conversation.
AgentRequest = Annotated[
    Annotated[AgentCompletionRequest, Tag("completion")]
    | Annotated[ConversationRequest, Tag("conversation")],
    Discriminator(_shape),
]


async def check_tool_urls(request: _AgentRequest, allow_hosts: Collection[str]) -> None:
    """Refuse tool URLs the callback URL guard refuses, and plain http to other hosts.

    Raises:
        ApiError: 422 naming ``request.tools.<i>.url``.
    """
    for index, tool in enumerate(request.tools or []):
        if tool.url is None:
            continue
        try:
            _require_https(tool.url, allow_hosts)
            await check_url_async(tool.url, allow_hosts)
        except UnsafeURLError as exc:
            field = f"request.tools.{index}.url"
            why = "tool URL refused: " + str(exc).removeprefix("callback URL refused: ")
            details = [{"field": field, "message": why, "type": "unsafe_url"}]
            raise ApiError(422, "validation_error", f"{field}: {why}", details) from None


def _require_https(url: str, allow_hosts: Collection[str]) -> None:
    # Arguments and results may be private: plain http only to hosts listed for development.
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return  # the guard names the problem
    listed = {h.lower().strip("[]").rstrip(".") for h in allow_hosts}
    if parsed.scheme != "https" and parsed.host.lower().rstrip(".") not in listed:
        raise UnsafeURLError("it must be https", UnsafeReason.SCHEME)


class ToolResultIn(BaseModel):
    """The caller's answer to one pending tool call."""

    model_config = ConfigDict(extra="forbid")

    tool_call_id: str = Field(min_length=1, max_length=200)
    result: str = Field(description="The function's result; Mistral wants a string.")


def match_results(pending: list[ToolCall], results: list[ToolResultIn]) -> list[ToolResult]:
    """The posted results, checked to answer every pending call exactly once.

    Raises:
        ApiError: 422 for an unknown or repeated ``tool_call_id`` (naming its index), or
            when a pending call has no result.
    """
    expected = {call.tool_call_id for call in pending}
    seen: set[str] = set()
    for index, item in enumerate(results):
        problem = None
        if item.tool_call_id not in expected:
            problem = f"{item.tool_call_id!r} is not a pending tool call of this job"
        elif item.tool_call_id in seen:
            problem = f"{item.tool_call_id!r} is answered twice"
        if problem:
            field = f"{index}.tool_call_id"
            details = [{"field": field, "message": problem, "type": "tool_call_id"}]
            raise ApiError(422, "validation_error", f"{field}: {problem}", details)
        seen.add(item.tool_call_id)
    missing = sorted(expected - seen)
    if missing:
        problem = f"no result for pending tool call(s) {', '.join(missing)}"
        details = [{"field": "body", "message": problem, "type": "missing_tool_results"}]
        raise ApiError(422, "validation_error", problem, details)
    return [ToolResult(tool_call_id=r.tool_call_id, result=r.result) for r in results]
