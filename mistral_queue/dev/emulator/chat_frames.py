"""A choice as ``chat.completion.chunk`` deltas, in the forms Mistral streams them.

- Text: one delta per token, ``content`` a plain string.
- Reasoning models (``magistral-*``): ``content`` is a list of chunks, first
  ``{"type": "thinking", "thinking": [{"type": "text", "text": piece}]}`` per thinking token,
  then the delta that switches over carries the last thinking piece and the first text chunk
  together (SDK ``DeltaMessageContent`` = ``str | list[ContentChunk]``).
- Tool calls: each call split over two deltas with the same ``index``, the ``id`` and
  ``name`` in the first, the rest of ``arguments`` in the second (the client merges them).
"""

from __future__ import annotations

from typing import Any

from mistral_queue.dev.emulator.text import token_pieces
from mistral_queue.dev.emulator.tools import PlannedCall


def content_deltas(content: str | None, thinking: str | None) -> list[dict[str, Any]]:
    """The deltas carrying one choice's text (and its thinking first, if any)."""
    pieces = token_pieces(content or "") or [""]
    if not thinking:
        return [{"content": piece} for piece in pieces]
    thoughts = token_pieces(thinking) or [thinking]
    deltas: list[dict[str, Any]] = [{"content": [_thinking(p)]} for p in thoughts[:-1]]
    deltas.append({"content": [_thinking(thoughts[-1]), {"type": "text", "text": pieces[0]}]})
    return deltas + [{"content": piece} for piece in pieces[1:]]


def tool_call_deltas(calls: list[PlannedCall]) -> list[dict[str, Any]]:
    """The deltas carrying ``calls``, each split in two pieces of its ``arguments``."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        middle = len(call.arguments) // 2
        head = {"name": call.name, "arguments": call.arguments[:middle]}
        deltas.append(
            {
                "tool_calls": [
                    {"id": call.tool_call_id, "type": "function", "index": index, "function": head}
                ]
            }
        )
        tail = {"name": "", "arguments": call.arguments[middle:]}
        deltas.append({"tool_calls": [{"index": index, "function": tail}]})
    return deltas


def message_content(content: str | None, thinking: str | None) -> Any:
    """A non-streamed ``message.content``: the text, or ``[thinking, text]`` chunks."""
    if not thinking:
        return content
    return [_thinking(thinking), {"type": "text", "text": content or ""}]


def _thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}
