"""A turn as conversation stream events (mistral-api.md §2 "Conversation stream").

Each output entry becomes its delta events, all with the entry's ``id`` and ``output_index``:
messages one ``message.output.delta`` per token, function calls ``function.call.delta`` with
the arguments in pieces (the SDK joins them), connectors ``tool.execution.started``/``delta``
(both with the whole arguments)/``done``,
handoffs ``agent.handoff.started``/``done``. The stream opens with
``conversation.response.started`` and ends with ``conversation.response.done`` (or
``conversation.response.error`` when a fault asks for one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mistral_queue.dev.emulator.agent_engine import Turn
from mistral_queue.dev.emulator.ids import iso_now
from mistral_queue.dev.emulator.text import token_pieces

Event = tuple[str, dict[str, Any]]


def turn_events(conversation_id: str, turn: Turn, *, fail: bool = False) -> list[Event]:
    """Every event of ``turn``; with ``fail`` the stream ends in a response error instead."""
    now = iso_now()
    events: list[Event] = [_event("conversation.response.started", conversation_id=conversation_id)]
    for index, entry in enumerate(turn.outputs):
        events += [(name, {**data, "output_index": index}) for name, data in _entry_events(entry)]
    if fail:
        events.append(
            _event("conversation.response.error", message="Emulated stream error", code=500)
        )
    else:
        events.append(_event("conversation.response.done", usage=turn.usage))
    return [(name, {**data, "created_at": data.get("created_at", now)}) for name, data in events]


def _event(kind: str, **fields: Any) -> Event:
    return kind, {"type": kind, **fields}


def _entry_events(entry: dict[str, Any]) -> Iterator[Event]:
    kind, ident = entry["type"], entry["id"]
    if kind == "message.output":
        yield from _message_events(entry)
    elif kind == "function.call":
        arguments = entry["arguments"]
        middle = len(arguments) // 2
        for piece in (arguments[:middle], arguments[middle:]):
            yield _event(
                "function.call.delta",
                id=ident,
                name=entry["name"],
                tool_call_id=entry["tool_call_id"],
                arguments=piece,
                model=entry.get("model"),
                agent_id=entry.get("agent_id"),
                confirmation_status=entry.get("confirmation_status"),
            )
    elif kind == "tool.execution":
        name, arguments = entry["name"], entry["arguments"]
        # The started event already has the whole arguments and the delta repeats them: a
        # client that appends every piece would double them.
        yield _event("tool.execution.started", id=ident, name=name, arguments=arguments)
        yield _event("tool.execution.delta", id=ident, name=name, arguments=arguments)
        yield _event("tool.execution.done", id=ident, name=name, info=entry.get("info") or {})
    elif kind == "agent.handoff":
        yield _event(
            "agent.handoff.started",
            id=ident,
            previous_agent_id=entry["previous_agent_id"],
            previous_agent_name=entry["previous_agent_name"],
        )
        yield _event(
            "agent.handoff.done",
            id=ident,
            next_agent_id=entry["next_agent_id"],
            next_agent_name=entry["next_agent_name"],
        )


def _message_events(entry: dict[str, Any]) -> Iterator[Event]:
    content = entry["content"]
    chunks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    for content_index, chunk in enumerate(chunks):
        if chunk.get("type") == "text":
            parts: list[Any] = token_pieces(chunk["text"]) or [""]
        else:
            parts = [chunk]
        for part in parts:
            yield _event(
                "message.output.delta",
                id=entry["id"],
                content_index=content_index,
                content=part,
                model=entry.get("model"),
                agent_id=entry.get("agent_id"),
                role="assistant",
            )
