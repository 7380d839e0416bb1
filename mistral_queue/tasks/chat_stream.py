"""Token streaming: turn Mistral's chat stream into ``job.delta`` events and one completion.

Deltas are coalesced (at most one event per ``delta_interval_ms`` or ``delta_max_chars``) so a
fast model does not flood Redis; the assembled result has the shape of a non-streamed
``chat.completion`` with the ``usage`` of the last chunk (mistral-api.md §2 "Chat stream").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mistral_queue.mistral.client import SSEEvent


@dataclass
class Coalescer:
    """Buffers text per choice and flushes it through ``emit(index, text)`` when due."""

    emit: Callable[[int, str], None]
    interval: float
    max_chars: int
    _buffers: dict[int, list[str]] = field(default_factory=dict)
    _size: int = 0
    _last: float = field(default_factory=time.monotonic)

    def add(self, index: int, text: str) -> None:
        if not text:
            return
        self._buffers.setdefault(index, []).append(text)
        self._size += len(text)
        if self._size >= self.max_chars or time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        for index, parts in sorted(self._buffers.items()):
            self.emit(index, "".join(parts))
        self._buffers.clear()
        self._size = 0
        self._last = time.monotonic()


@dataclass
class _Choice:
    content: list[str] = field(default_factory=list)
    role: str = "assistant"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass
class Assembler:
    """Rebuilds a ``chat.completion`` from ``chat.completion.chunk`` events."""

    head: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    choices: dict[int, _Choice] = field(default_factory=dict)

    def add(self, chunk: dict[str, Any], on_text: Callable[[int, str], None]) -> None:
        for name in ("id", "model", "created"):
            if name in chunk:
                self.head.setdefault(name, chunk[name])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for raw in chunk.get("choices") or []:
            index = int(raw.get("index", 0))
            choice = self.choices.setdefault(index, _Choice())
            delta = raw.get("delta") or {}
            choice.role = delta.get("role") or choice.role
            text = delta.get("content")
            if isinstance(text, str) and text:
                choice.content.append(text)
                on_text(index, text)
            choice.tool_calls.extend(delta.get("tool_calls") or [])
            choice.finish_reason = raw.get("finish_reason") or choice.finish_reason

    def completion(self) -> dict[str, Any]:
        choices = []
        for index, choice in sorted(self.choices.items()):
            message: dict[str, Any] = {"role": choice.role, "content": "".join(choice.content)}
            if choice.tool_calls:
                message["tool_calls"] = choice.tool_calls
            choices.append(
                {"index": index, "message": message, "finish_reason": choice.finish_reason}
            )
        return {**self.head, "object": "chat.completion", "choices": choices, "usage": self.usage}


def assemble(events: Iterable[SSEEvent], coalescer: Coalescer) -> dict[str, Any]:
    """Consume a chat stream, emitting coalesced deltas; return the whole completion."""
    assembler = Assembler()
    for event in events:
        assembler.add(event.data, coalescer.add)
    coalescer.flush()
    return assembler.completion()
