"""Streamed conversation steps: named events in, ``job.delta`` text and one whole answer out.

Conversation streams (mistral-api.md §2 "Conversation stream") carry each output entry as
delta events with the entry's ``id`` and ``output_index``: ``message.output.delta`` adds text
(or a content chunk), ``function.call.delta`` adds a piece of ``arguments``,
``tool.execution.*`` and ``agent.handoff.*`` fill in their entries.
``conversation.response.started`` names the conversation, ``.done`` carries the usage and
``.error`` fails the attempt. Unknown event types are skipped: Mistral keeps adding them
(mistral-api.md §4). The answer has the shape of a non-streamed ``conversation.response``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mistral_queue.mistral.client import SSEEvent
from mistral_queue.mistral.errors import ServerError
from mistral_queue.tasks.chat_stream import Coalescer

#: Entry type each delta event builds, and the event fields copied onto the entry.
_ENTRY_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "message.output.delta": ("message.output", ("role", "model", "agent_id")),
    "function.call.delta": (
        "function.call",
        ("tool_call_id", "name", "model", "agent_id", "confirmation_status"),
    ),
    "tool.execution.started": ("tool.execution", ("name", "arguments", "model", "agent_id")),
    "tool.execution.delta": ("tool.execution", ("name",)),
    "tool.execution.done": ("tool.execution", ("name", "info")),
    "agent.handoff.started": ("agent.handoff", ("previous_agent_id", "previous_agent_name")),
    "agent.handoff.done": ("agent.handoff", ("next_agent_id", "next_agent_name")),
}


@dataclass
class ConversationAssembler:
    """Rebuilds a ``conversation.response`` from its stream events."""

    conversation_id: str | None = None
    usage: dict[str, Any] | None = None
    _entries: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def add(self, event: SSEEvent, on_text: Callable[[int, str], None]) -> None:
        """Fold one event in; text pieces of messages go to ``on_text(output_index, text)``.

        Raises:
            ServerError: a ``conversation.response.error`` event (retryable, like a 5xx).
        """
        data = event.data
        kind = event.event or str(data.get("type") or "")
        if kind == "conversation.response.started":
            self.conversation_id = data.get("conversation_id")
        elif kind == "conversation.response.done":
            self.usage = data.get("usage")
        elif kind == "conversation.response.error":
            message = str(data.get("message") or "stream error")
            raise ServerError(f"conversation.response.error: {message}", body=data)
        elif kind in _ENTRY_EVENTS:
            self._entry_event(kind, data, on_text)

    def _entry_event(
        self, kind: str, data: dict[str, Any], on_text: Callable[[int, str], None]
    ) -> None:
        entry_type, copied = _ENTRY_EVENTS[kind]
        ident = str(data.get("id") or f"{entry_type}:{data.get('output_index', 0)}")
        index = int(data.get("output_index") or 0)
        _, entry = self._entries.setdefault(
            ident, (index, {"object": "entry", "type": entry_type, "id": ident})
        )
        entry.update({name: data[name] for name in copied if data.get(name) is not None})
        if data.get("created_at"):
            # The entry was created by its first event and completed by its ``.done`` one.
            entry.setdefault("created_at", data["created_at"])
            if kind.endswith(".done"):
                entry["completed_at"] = data["created_at"]
        if kind == "message.output.delta":
            text = _add_content(entry, data.get("content"))
            if text:
                on_text(index, text)
        elif kind == "function.call.delta":
            entry["arguments"] = str(entry.get("arguments") or "") + str(
                data.get("arguments") or ""
            )
        elif kind == "tool.execution.delta":
            entry["arguments"] = _add_arguments(entry.get("arguments"), data.get("arguments"))

    def answer(self) -> dict[str, Any]:
        """The assembled response: entries in ``output_index`` order."""
        ordered = sorted(self._entries.values(), key=lambda pair: pair[0])
        return {
            "object": "conversation.response",
            "conversation_id": self.conversation_id,
            "outputs": [entry for _, entry in ordered],
            "usage": self.usage,
        }


def _add_arguments(before: Any, piece: Any) -> str:
    """Tool-execution arguments so far plus one ``tool.execution.delta`` piece.

    ``tool.execution.started`` may already carry the whole arguments; a delta that repeats
    what the entry holds (the whole text so far, or more of it) replaces it instead of
    doubling it.
    """
    known, new = str(before or ""), str(piece or "")
    if known and new.startswith(known):
        return new
    return known + new


def _add_content(entry: dict[str, Any], piece: Any) -> str:
    """Append a content piece (text or a chunk) to a message entry; return its text.

    Text continues the last text chunk, so thinking followed by many text tokens gives one
    thinking chunk and one text chunk, as the non-streamed entry has.
    """
    content = entry.get("content", "")
    if isinstance(piece, str):
        if isinstance(content, str):
            entry["content"] = content + piece
        elif content and content[-1].get("type") == "text":
            content[-1] = {**content[-1], "text": str(content[-1].get("text") or "") + piece}
        else:
            content.append({"type": "text", "text": piece})
        return piece
    if isinstance(piece, dict):
        chunks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        entry["content"] = [c for c in chunks if c != {"type": "text", "text": ""}] + [piece]
        return str(piece.get("text") or "") if piece.get("type") == "text" else ""
    return ""


def assemble_conversation(events: Iterable[SSEEvent], coalescer: Coalescer) -> dict[str, Any]:
    """Consume a conversation stream, emitting coalesced text; return the whole response."""
    assembler = ConversationAssembler()
    for event in events:
        assembler.add(event, coalescer.add)
    coalescer.flush()
    return assembler.answer()
