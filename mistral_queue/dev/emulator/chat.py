"""The emulated model behind chat and agents completions: deterministic answers with usage.

The answer to a user turn is ``"Echo: <text>"`` (fault markers removed); to a tool result it
is ``"The <name> tool returned: <result>"``. JSON modes answer a JSON object instead. Tool
calls follow ``tools.py``; ``magistral-*`` models think first (``chat_frames.py``). Shapes
are SDK 3.7 ``ChatCompletionResponse`` / ``CompletionChunk`` (mistral-api.md §2).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from mistral_queue.dev.emulator.catalog import is_reasoning_model
from mistral_queue.dev.emulator.chat_frames import content_deltas, message_content, tool_call_deltas
from mistral_queue.dev.emulator.chat_schema import (
    AssistantMessage,
    CompletionFields,
    Message,
    SystemMessage,
    Tool,
    ToolChoiceFunction,
    ToolMessage,
)
from mistral_queue.dev.emulator.errors import ApiError
from mistral_queue.dev.emulator.faults import strip_markers
from mistral_queue.dev.emulator.text import (
    content_text,
    count_tokens,
    truncate_tokens,
)
from mistral_queue.dev.emulator.tools import (
    PlannedCall,
    ToolSpec,
    arguments_for,
    mentioned,
    plan_calls,
)
from mistral_queue.dev.emulator.validation import check_messages


@dataclass(frozen=True)
class Choice:
    """One generated choice: text or tool calls, and why it stopped."""

    content: str | None
    calls: list[PlannedCall]
    finish_reason: str
    completion_tokens: int
    #: The reasoning a ``magistral-*`` model shows before its answer (``thinking`` chunk).
    thinking: str | None = None

    def message(self) -> dict[str, Any]:
        """The ``choices[].message`` object."""
        return {
            "role": "assistant",
            "content": message_content(self.content, self.thinking),
            "tool_calls": [_tool_call(i, c) for i, c in enumerate(self.calls)] or None,
            "prefix": False,
        }


@dataclass(frozen=True)
class Completion:
    """A whole completion, renderable as a JSON response or as stream chunks."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    prompt_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens: the rate-limit cost of the call."""
        return self.prompt_tokens + sum(c.completion_tokens for c in self.choices)

    def usage(self) -> dict[str, int]:
        """The ``usage`` object."""
        completion = self.total_tokens - self.prompt_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.total_tokens,
        }

    def response(self) -> dict[str, Any]:
        """The ``chat.completion`` JSON body."""
        choices = [
            {"index": i, "message": c.message(), "finish_reason": c.finish_reason}
            for i, c in enumerate(self.choices)
        ]
        return {**self._head("chat.completion"), "choices": choices, "usage": self.usage()}

    def chunks(self, *, fail: bool = False) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` frames: a role frame, one per token, usage last.

        With ``fail`` the stream stops half-way with ``finish_reason: "error"``, as Mistral
        does when generation fails after the response started (client-python#74).
        """
        frames = [self._chunk(0, {"role": "assistant", "content": ""}, None)]
        for index, choice in enumerate(self.choices):
            frames += self._choice_chunks(index, choice)
        if fail:
            frames = frames[: max(2, len(frames) // 2)]
            frames[-1]["choices"][0]["finish_reason"] = "error"
        frames[-1]["usage"] = self.usage()
        return frames

    def _choice_chunks(self, index: int, choice: Choice) -> list[dict[str, Any]]:
        if choice.calls:
            deltas = tool_call_deltas(choice.calls)
        else:
            deltas = content_deltas(choice.content, choice.thinking)
        frames = [self._chunk(index, delta, None) for delta in deltas]
        frames[-1]["choices"][0]["finish_reason"] = choice.finish_reason
        return frames

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return {**self._head("chat.completion.chunk"), "choices": [choice]}

    def _head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}


def complete(request: CompletionFields, model: str) -> Completion:
    """Generate the completion for a validated request.

    Raises:
        ApiError: 400 for a bad message order, tool call id or forced tool (codes 3230/3280).
    """
    messages = request.messages
    check_messages(messages)
    seed = hashlib.sha256(
        json.dumps([m.model_dump() for m in messages], sort_keys=True).encode()
    ).hexdigest()
    choice = _choose(request, seed, model)
    return Completion(
        id=f"cmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[choice] * (request.n or 1),
        prompt_tokens=prompt_tokens(messages),
    )


def with_agent(request: CompletionFields, agent: dict[str, Any]) -> CompletionFields:
    """``request`` as the agent runs it: its instructions first, its function tools and its
    ``completion_args`` wherever the request leaves them unset."""
    args = agent.get("completion_args") or {}
    messages = list(request.messages)
    if agent.get("instructions"):
        messages.insert(0, SystemMessage(role="system", content=agent["instructions"]))
    tools = [
        Tool.model_validate(t) for t in agent.get("tools") or [] if t.get("type") == "function"
    ]
    max_tokens = request.max_tokens if request.max_tokens is not None else args.get("max_tokens")
    return request.model_copy(
        update={
            "messages": messages,
            "tools": request.tools or tools or None,
            "max_tokens": max_tokens,
            "tool_choice": request.tool_choice or args.get("tool_choice"),
        }
    )


def prompt_tokens(messages: list[Message]) -> int:
    """Tokens of every message's text and tool call (name and arguments)."""
    total = 0
    for message in messages:
        total += count_tokens(content_text(message.content))
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls or []:
                total += count_tokens(f"{call.function.name} {call.function.arguments}")
    return total


def answer_text(messages: list[Message]) -> str:
    """The deterministic reply text to the last message."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        name = last.name or _tool_name(messages, last.tool_call_id) or "function"
        return f"The {name} tool returned: {content_text(last.content)}"
    if isinstance(last, AssistantMessage):
        return content_text(last.content) + " " + _echo(messages)
    return _echo(messages)


def _echo(messages: list[Message]) -> str:
    users = [m for m in messages if m.role == "user"]
    text = content_text(users[-1].content) if users else ""
    return f"Echo: {strip_markers(text)}"


def _choose(request: CompletionFields, seed: str, model: str) -> Choice:
    calls = _planned_calls(request, seed)
    if calls:
        tokens = sum(count_tokens(f"{c.name} {c.arguments}") for c in calls)
        return Choice(None, calls, "tool_calls", tokens)
    text, finish = _format(request, answer_text(request.messages)), "stop"
    stops = [request.stop] if isinstance(request.stop, str) else request.stop or []
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    if request.max_tokens is not None:
        text, truncated = truncate_tokens(text, request.max_tokens)
        finish = "length" if truncated else finish
    if not is_reasoning_model(model):
        return Choice(text, [], finish, count_tokens(text))
    thinking = f"The user asked for {count_tokens(text)} tokens of answer, so I echo them."
    return Choice(text, [], finish, count_tokens(text) + count_tokens(thinking), thinking)


def _format(request: CompletionFields, text: str) -> str:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return text
    schema = (fmt.json_schema or {}).get("schema")
    if fmt.type == "json_schema" and isinstance(schema, dict):
        return json.dumps(arguments_for(schema, text))
    return json.dumps({"answer": text})


def _planned_calls(request: CompletionFields, seed: str) -> list[PlannedCall]:
    choice = request.tool_choice
    if not request.tools or choice == "none" or request.messages[-1].role != "user":
        return []
    specs = [ToolSpec(t.function.name, t.function.parameters) for t in request.tools]
    text = content_text(request.messages[-1].content)
    if isinstance(choice, ToolChoiceFunction):
        name = choice.function.get("name")
        chosen = [s for s in specs if s.name == name]
        if not chosen:
            raise ApiError(400, f"Tool choice names unknown function {name!r}", param="tool_choice")
    else:
        chosen = mentioned(specs, text)
        if not chosen and choice in ("any", "required"):
            chosen = specs[:1]
    if request.parallel_tool_calls is False:
        chosen = chosen[:1]
    return plan_calls(chosen, text, seed)


def _tool_name(messages: list[Message], tool_call_id: str | None) -> str | None:
    for message in messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls or []:
                if call.id == tool_call_id:
                    return call.function.name
    return None


def _tool_call(index: int, call: PlannedCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.tool_call_id, "type": "function", "function": function, "index": index}
