"""Token streaming: turn Mistral's chat stream into ``job.delta`` events and one completion.

Deltas are coalesced (at most one event per ``delta_interval_ms`` or ``delta_max_chars``) so a
fast model does not flood Redis; the assembled result has the shape of a non-streamed
``chat.completion`` with the ``usage`` of the last chunk (mistral-api.md §2 "Chat stream").
Content chunk lists (thinking + text) and tool calls split over deltas are merged as the
SDK's models define them; a stream that ends in ``finish_reason: "error"`` fails the attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mistral_queue.mistral.client import SSEEvent
from mistral_queue.mistral.errors import ServerError


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
    content: list[dict[str, Any]] = field(default_factory=list)
    role: str = "assistant"
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None

    def add_content(self, content: Any) -> str:
        """Fold a delta's ``content`` (a string or a list of chunks) in; return its text.

        Reasoning models send ``[{"type": "thinking", "thinking": [text chunks]},
        {"type": "text", "text": ...}]`` (SDK ``DeltaMessageContent``); consecutive pieces
        of one kind are merged, so the result has one chunk per run of that kind.
        """
        pieces = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = []
        for piece in pieces if isinstance(pieces, list) else []:
            if not isinstance(piece, dict):
                continue
            last = self.content[-1] if self.content else None
            kind = piece.get("type")
            if kind == "text":
                text.append(str(piece.get("text") or ""))
            if last is not None and kind == last.get("type") == "text":
                last["text"] += str(piece.get("text") or "")
            elif last is not None and kind == last.get("type") == "thinking":
                last["thinking"] = _merge_text(last["thinking"], piece.get("thinking") or [])
            else:
                self.content.append(dict(piece))
        return "".join(text)

    def add_tool_calls(self, calls: list[dict[str, Any]]) -> None:
        """Merge streamed tool calls by ``index``: later pieces extend ``arguments``."""
        for call in calls:
            index = int(call.get("index") or 0)
            known = self.tool_calls.get(index)
            if known is None:
                function = dict(call.get("function") or {})
                self.tool_calls[index] = {**call, "index": index, "function": function}
                continue
            for name in ("id", "type"):
                if call.get(name) and call[name] != "null":
                    known[name] = call[name]
            function = call.get("function") or {}
            if function.get("name"):
                known["function"]["name"] = function["name"]
            piece = function.get("arguments")
            before = known["function"].get("arguments")
            if isinstance(piece, str) and isinstance(before, str):
                known["function"]["arguments"] = before + piece
            elif piece:
                known["function"]["arguments"] = piece

    def message(self) -> dict[str, Any]:
        """The assembled ``message``: ``content`` is a string unless it holds other chunks."""
        content: Any = self.content
        if all(chunk.get("type") == "text" for chunk in self.content):
            content = "".join(chunk["text"] for chunk in self.content)
        message: dict[str, Any] = {"role": self.role, "content": content}
        if self.tool_calls:
            message["tool_calls"] = [call for _, call in sorted(self.tool_calls.items())]
        return message


def _merge_text(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join two lists of chunks, merging a text chunk that continues the previous one."""
    merged = [dict(chunk) for chunk in left]
    for chunk in right:
        if merged and chunk.get("type") == merged[-1].get("type") == "text":
            merged[-1]["text"] = str(merged[-1].get("text") or "") + str(chunk.get("text") or "")
        else:
            merged.append(dict(chunk))
    return merged


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
            if delta.get("content"):
                text = choice.add_content(delta["content"])
                if text:
                    on_text(index, text)
            choice.add_tool_calls(delta.get("tool_calls") or [])
            choice.finish_reason = raw.get("finish_reason") or choice.finish_reason

    def completion(self) -> dict[str, Any]:
        """The whole ``chat.completion``.

        Raises:
            ServerError: a choice ended with ``finish_reason: "error"`` (generation failed
                after the stream started; retryable like a 5xx).
        """
        if any(choice.finish_reason == "error" for choice in self.choices.values()):
            raise ServerError('the chat stream ended with finish_reason "error"', body=self.head)
        choices = [
            {"index": index, "message": choice.message(), "finish_reason": choice.finish_reason}
            for index, choice in sorted(self.choices.items())
        ]
        return {**self.head, "object": "chat.completion", "choices": choices, "usage": self.usage}


def assemble(events: Iterable[SSEEvent], coalescer: Coalescer) -> dict[str, Any]:
    """Consume a chat stream, emitting coalesced deltas; return the whole completion."""
    assembler = Assembler()
    for event in events:
        assembler.add(event.data, coalescer.add)
    coalescer.flush()
    return assembler.completion()
