"""Request bodies of ``/v1/chat/completions`` and ``/v1/agents/completions``.

Field lists mirror SDK 3.7 ``ChatCompletionRequest`` / ``AgentsCompletionRequest``; unknown
fields are refused with 422 ``extra_forbidden`` as Mistral does (mistral-api.md §1).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Content = str | list[dict[str, Any]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    """``function`` of a tool call; ``arguments`` is a JSON string (or an object)."""

    name: str
    arguments: str | dict[str, Any]


class ToolCall(_Strict):
    """One tool call of an assistant message."""

    id: str = "null"
    type: str = "function"
    function: FunctionCall
    index: int = 0


class SystemMessage(_Strict):
    """``{role: "system", content}``."""

    role: Literal["system"]
    content: Content


class UserMessage(_Strict):
    """``{role: "user", content}``."""

    role: Literal["user"]
    content: Content | None


class AssistantMessage(_Strict):
    """``{role: "assistant", content, tool_calls, prefix}``."""

    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCall] | None = None
    prefix: bool = False


class ToolMessage(_Strict):
    """``{role: "tool", content, tool_call_id, name}``."""

    role: Literal["tool"]
    content: Content | None
    tool_call_id: str | None = None
    name: str | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


class Function(_Strict):
    """A function a tool exposes; ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    strict: bool | None = None


class Tool(_Strict):
    """``{type: "function", function}``."""

    type: Literal["function"] = "function"
    function: Function


class ToolChoiceFunction(_Strict):
    """``{type: "function", function: {name}}``: force one tool."""

    type: Literal["function"] = "function"
    function: dict[str, str]


class ResponseFormat(_Strict):
    """``{type, json_schema: {name, schema, strict}}``."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class CompletionFields(_Strict):
    """Fields shared by chat and agents completions."""

    messages: list[Message]
    max_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False
    stop: str | list[str] | None = None
    random_seed: int | None = None
    metadata: dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "any", "required"] | ToolChoiceFunction | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    min_tokens: int | None = Field(default=None, ge=0)
    repetition_penalty: float | None = None
    top_k: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    prompt_logprobs: bool | None = None
    top_prompt_logprobs: int | None = None
    n: int | None = Field(default=None, ge=1, le=16)
    prediction: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    prompt_mode: str | None = None
    guardrails: list[dict[str, Any]] | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "standard_only"] | None = None


class ChatCompletionRequest(CompletionFields):
    """Body of ``POST /v1/chat/completions``."""

    model: str
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    safe_prompt: bool | None = None


class AgentsCompletionRequest(CompletionFields):
    """Body of ``POST /v1/agents/completions``."""

    agent_id: str
