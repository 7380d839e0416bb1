"""The emulated agent: turns a conversation's entries into deterministic output entries.

Rules for one turn, in order:

1. The last input is a ``function.result``: answer ``"The <name> tool returned: <result>"``.
2. The user text names an agent listed in ``handoffs`` (by name or id): an ``agent.handoff``
   entry, then (``handoff_execution: "server"``) that agent answers the same text.
3. The text names a built-in connector the agent has (``web_search``, ``code_interpreter``, …):
   a canned ``tool.execution`` entry before the answer.
4. Function tools are called (``function.call`` entries, the turn stops there) when the text
   names them, or when no ``function.result`` was given yet in the conversation, or when
   ``tool_choice`` is ``any``/``required``; never with ``tool_choice: "none"``.
5. Otherwise the answer is ``"Echo: <text>"`` (cut to ``completion_args.max_tokens``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mistral_queue.dev.emulator.agents import AgentStore
from mistral_queue.dev.emulator.entries import (
    entry_text,
    function_call,
    handoff,
    message_output,
    tool_execution,
)
from mistral_queue.dev.emulator.errors import ApiError
from mistral_queue.dev.emulator.faults import strip_markers
from mistral_queue.dev.emulator.text import content_text, count_tokens, truncate_tokens
from mistral_queue.dev.emulator.tools import ToolSpec, mentioned, plan_calls


@dataclass(frozen=True)
class Persona:
    """Who answers a turn: an agent version, or a model with its own settings."""

    model: str
    agent: dict[str, Any] | None
    instructions: str | None
    tools: list[dict[str, Any]]
    completion_args: dict[str, Any]

    @property
    def agent_id(self) -> str | None:
        """The answering agent's id, None for a model conversation."""
        return self.agent["id"] if self.agent else None

    @classmethod
    def of_agent(cls, agent: dict[str, Any]) -> Persona:
        """The persona of a rendered agent object."""
        return cls(
            model=agent["model"],
            agent=agent,
            instructions=agent.get("instructions"),
            tools=agent.get("tools") or [],
            completion_args=agent.get("completion_args") or {},
        )


@dataclass(frozen=True)
class Turn:
    """The outputs of one turn and its ``usage``."""

    outputs: list[dict[str, Any]]
    usage: dict[str, Any]

    @property
    def cost(self) -> int:
        """Total tokens, the rate-limit cost."""
        return int(self.usage["total_tokens"])


def run_turn(
    persona: Persona,
    entries: list[dict[str, Any]],
    agents: AgentStore,
    *,
    handoff_execution: str = "server",
    completion_args: dict[str, Any] | None = None,
) -> Turn:
    """Answer the last of ``entries`` (history plus this turn's inputs).

    Raises:
        ApiError: 400 when there is nothing to answer or a function result answers no call.
    """
    if not entries:
        raise ApiError(400, "Conversation has no entries to answer", param="inputs")
    args = {**persona.completion_args, **(completion_args or {})}
    outputs = _respond(persona, entries, agents, handoff_execution, args)
    return Turn(outputs, _usage(persona, entries, outputs))


def _respond(
    persona: Persona,
    entries: list[dict[str, Any]],
    agents: AgentStore,
    handoff_execution: str,
    args: dict[str, Any],
) -> list[dict[str, Any]]:
    last = entries[-1]
    if last["type"] == "function.result":
        text, _ = truncate_tokens(_results_text(entries), _limit(args))
        return [message_output(text, persona.model, persona.agent_id)]
    text = (
        strip_markers(content_text(last.get("content"))) if last["type"] == "message.input" else ""
    )
    outputs: list[dict[str, Any]] = []
    target = _handoff_target(persona, text, agents)
    if target is not None and persona.agent is not None:
        outputs.append(handoff(persona.agent, target))
        if handoff_execution == "client":
            return outputs
        persona = Persona.of_agent(target)
        args = {**persona.completion_args, **args}
    return outputs + _act(persona, entries, text, args)


def _act(
    persona: Persona, entries: list[dict[str, Any]], text: str, args: dict[str, Any]
) -> list[dict[str, Any]]:
    available = [ToolSpec(t["type"], {}) for t in persona.tools if t.get("type") != "function"]
    connectors = [spec.name for spec in mentioned(available, text)]
    outputs = [
        tool_execution(name, {"query": text}, persona.model, persona.agent_id)
        for name in connectors
    ]
    calls = _function_calls(persona, entries, text, args)
    if calls:
        seed = f"{entries[-1].get('id')}:{len(entries)}"
        return outputs + [
            function_call(call, persona.model, persona.agent_id)
            for call in plan_calls(calls, text, seed)
        ]
    answer, _ = truncate_tokens(f"Echo: {text}", _limit(args))
    content: Any = answer
    if "web_search" in connectors:
        content = [{"type": "text", "text": answer}, _reference(text)]
    return [*outputs, message_output(content, persona.model, persona.agent_id)]


def _function_calls(
    persona: Persona, entries: list[dict[str, Any]], text: str, args: dict[str, Any]
) -> list[ToolSpec]:
    choice = args.get("tool_choice") or "auto"
    specs = [
        ToolSpec(t["function"]["name"], t["function"].get("parameters") or {})
        for t in persona.tools
        if t.get("type") == "function" and isinstance(t.get("function"), dict)
    ]
    if not specs or choice == "none":
        return []
    chosen = mentioned(specs, text)
    answered = any(e["type"] == "function.result" for e in entries)
    if not chosen and (not answered or choice in ("any", "required")):
        chosen = specs[:1]
    return chosen


def _results_text(entries: list[dict[str, Any]]) -> str:
    names = {e["tool_call_id"]: e["name"] for e in entries if e["type"] == "function.call"}
    lines = []
    for entry in reversed(entries):
        if entry["type"] != "function.result":
            break
        name = names.get(entry["tool_call_id"])
        if name is None:
            raise ApiError(400, f"No function call with id {entry['tool_call_id']}", param="inputs")
        lines.append(f"The {name} tool returned: {entry['result']}")
    return "\n".join(reversed(lines))


def _handoff_target(persona: Persona, text: str, agents: AgentStore) -> dict[str, Any] | None:
    for agent_id in (persona.agent or {}).get("handoffs") or []:
        try:
            candidate = agents.get(agent_id)
        except ApiError:
            continue
        pattern = rf"(?<![\w-])({re.escape(candidate['name'])}|{re.escape(agent_id)})(?![\w-])"
        if re.search(pattern, text):
            return candidate
    return None


def _reference(text: str) -> dict[str, Any]:
    return {
        "type": "tool_reference",
        "tool": "web_search",
        "title": f"Emulated search result for {text[:40]}",
        "url": "https://example.com/search",
    }


def _limit(args: dict[str, Any]) -> int:
    limit = args.get("max_tokens")
    return int(limit) if limit is not None else 1_000_000


def _usage(
    persona: Persona, entries: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    prompt = count_tokens(persona.instructions or "")
    prompt += sum(count_tokens(entry_text(e)) for e in entries)
    completion = sum(count_tokens(entry_text(e)) for e in outputs)
    connectors = [e["name"] for e in outputs if e["type"] == "tool.execution"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "connector_tokens": None,
        "connectors": {name: connectors.count(name) for name in connectors} or None,
    }
