"""Conversation entries: builders for each type and the text used for token counts.

Shapes follow SDK 3.7 (``MessageInputEntry``, ``MessageOutputEntry``, ``FunctionCallEntry``,
``FunctionResultEntry``, ``ToolExecutionEntry``, ``AgentHandoffEntry``); every entry has
``object: "entry"``, ``type``, ``id``, ``created_at`` and ``completed_at`` (ISO-8601).
"""

from __future__ import annotations

import json
from typing import Any

from mistral_queue.dev.emulator.agent_schema import Inputs
from mistral_queue.dev.emulator.ids import iso_now, new_id
from mistral_queue.dev.emulator.text import content_text
from mistral_queue.dev.emulator.tools import PlannedCall

#: Id prefix of each entry type.
_PREFIXES = {
    "message.input": "msg",
    "message.output": "msg",
    "function.call": "fc",
    "function.result": "fr",
    "tool.execution": "tool_exec",
    "agent.handoff": "handoff",
}


def _entry(kind: str, **fields: Any) -> dict[str, Any]:
    now = iso_now()
    return {
        "object": "entry",
        "type": kind,
        "id": new_id(_PREFIXES.get(kind, "entry")),
        "created_at": now,
        "completed_at": now,
        **fields,
    }


def accept_inputs(inputs: Inputs | None) -> list[dict[str, Any]]:
    """The stored entries for request ``inputs`` (a string is one user message)."""
    if inputs is None:
        return []
    if isinstance(inputs, str):
        return [_entry("message.input", role="user", content=inputs, prefix=False)]
    accepted = []
    for item in inputs:
        fields = item.model_dump(exclude_none=True)
        for key in ("object", "type", "id", "created_at", "completed_at"):
            fields.pop(key, None)
        accepted.append(_entry(item.type, **fields))
    return accepted


def message_output(content: Any, model: str, agent_id: str | None) -> dict[str, Any]:
    """An assistant ``message.output`` entry."""
    return _entry(
        "message.output", role="assistant", content=content, model=model, agent_id=agent_id
    )


def function_call(call: PlannedCall, model: str, agent_id: str | None) -> dict[str, Any]:
    """A ``function.call`` entry the client must answer with a ``function.result``."""
    return _entry(
        "function.call",
        tool_call_id=call.tool_call_id,
        name=call.name,
        arguments=call.arguments,
        model=model,
        agent_id=agent_id,
        confirmation_status=None,
    )


def tool_execution(
    name: str, arguments: dict[str, Any], model: str, agent_id: str | None
) -> dict[str, Any]:
    """A ``tool.execution`` entry of a built-in connector (run by the emulator)."""
    return _entry(
        "tool.execution",
        name=name,
        arguments=json.dumps(arguments),
        info={"emulated": True},
        model=model,
        agent_id=agent_id,
    )


def handoff(previous: dict[str, Any], following: dict[str, Any]) -> dict[str, Any]:
    """An ``agent.handoff`` entry from agent ``previous`` to agent ``following``."""
    return _entry(
        "agent.handoff",
        previous_agent_id=previous["id"],
        previous_agent_name=previous["name"],
        next_agent_id=following["id"],
        next_agent_name=following["name"],
    )


def entry_text(entry: dict[str, Any]) -> str:
    """The text an entry contributes to a prompt (for token counts)."""
    kind = entry.get("type")
    if kind in ("message.input", "message.output"):
        return content_text(entry.get("content"))
    if kind == "function.call":
        return f"{entry.get('name')} {entry.get('arguments')}"
    if kind == "function.result":
        return str(entry.get("result", ""))
    if kind == "tool.execution":
        return f"{entry.get('name')} {entry.get('arguments')}"
    return ""
