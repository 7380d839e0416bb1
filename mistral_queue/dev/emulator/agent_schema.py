"""Request bodies of the Agents and Conversations endpoints (SDK 3.7 field lists).

Top-level bodies refuse unknown fields (422 ``extra_forbidden``) like the rest of the API;
tools and entries keep unknown keys, since Mistral keeps adding connector and entry types.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mistral_queue.dev.emulator.chat_schema import Function

HandoffExecution = Literal["client", "server"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentTool(BaseModel):
    """A tool: ``{type: "function", function}`` or a connector such as ``{type: "web_search"}``."""

    model_config = ConfigDict(extra="allow")

    type: str
    function: Function | None = None

    @model_validator(mode="after")
    def _function_needs_a_definition(self) -> AgentTool:
        if self.type == "function" and self.function is None:
            raise ValueError("a function tool needs 'function'")
        return self


class CompletionArgs(_Strict):
    """``completion_args`` of agents and conversations."""

    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    random_seed: int | None = None
    prediction: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    tool_choice: Literal["auto", "none", "any", "required"] | None = None
    reasoning_effort: str | None = None


class AgentFields(_Strict):
    """Fields an agent version carries (all optional, as in an update)."""

    instructions: str | None = None
    tools: list[AgentTool] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[dict[str, Any]] | None = None
    description: str | None = None
    handoffs: list[str] | None = None
    metadata: dict[str, Any] | None = None
    version_message: str | None = None


class CreateAgentRequest(AgentFields):
    """Body of ``POST /v1/agents``."""

    model: str
    name: str


class UpdateAgentRequest(AgentFields):
    """Body of ``PATCH /v1/agents/{agent_id}``: each update makes a new version."""

    model: str | None = None
    name: str | None = None
    deployment_chat: bool | None = None


class InputEntry(BaseModel):
    """One input entry; ``type`` is inferred when left out (``message.input`` or
    ``function.result``)."""

    model_config = ConfigDict(extra="allow")

    type: str = ""
    object: Literal["entry"] = "entry"
    role: Literal["user", "assistant"] | None = None
    content: str | list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    result: str | None = None

    @model_validator(mode="after")
    def _infer_and_check(self) -> InputEntry:
        if not self.type:
            self.type = "function.result" if self.tool_call_id else "message.input"
        if self.type == "message.input" and (self.role is None or self.content is None):
            raise ValueError("a message.input entry needs 'role' and 'content'")
        if self.type == "function.result" and (self.tool_call_id is None or self.result is None):
            raise ValueError("a function.result entry needs 'tool_call_id' and 'result'")
        return self


Inputs = str | list[InputEntry]


class ToolConfirmation(_Strict):
    """``{tool_call_id, confirmation}`` for tools that need approval."""

    tool_call_id: str
    confirmation: Literal["allow", "deny"]


class _TurnFields(_Strict):
    stream: bool = False
    store: bool | None = True
    handoff_execution: HandoffExecution | None = "server"
    completion_args: CompletionArgs | None = None


class StartConversationRequest(_TurnFields):
    """Body of ``POST /v1/conversations``: ``agent_id`` or ``model``."""

    inputs: Inputs
    instructions: str | None = None
    tools: list[AgentTool] | None = None
    guardrails: list[dict[str, Any]] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    agent_id: str | None = None
    agent_version: int | str | None = None
    model: str | None = None


class AppendConversationRequest(_TurnFields):
    """Body of ``POST /v1/conversations/{id}``."""

    inputs: Inputs | None = None
    tool_confirmations: list[ToolConfirmation] | None = None


class RestartConversationRequest(_TurnFields):
    """Body of ``POST /v1/conversations/{id}/restart``: branch after ``from_entry_id``."""

    from_entry_id: str
    inputs: Inputs | None = None
    guardrails: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    agent_version: int | str | None = None
