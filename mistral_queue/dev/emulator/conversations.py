"""Conversations kept in memory: their settings and the ordered list of entries.

``GET /v1/conversations/{id}`` answers SDK 3.7 ``AgentConversation`` (with ``agent_id``) or
``ModelConversation`` (with ``model``); history is every entry in append order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mistral_queue.dev.emulator.errors import not_found
from mistral_queue.dev.emulator.ids import iso_now, new_id


@dataclass
class Conversation:
    """One conversation: who answers (an agent version or a model) and what was said."""

    agent_id: str | None
    agent_version: int | None
    model: str | None
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    completion_args: dict[str, Any] = field(default_factory=dict)
    guardrails: list[dict[str, Any]] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: new_id("conv"))
    created_at: str = field(default_factory=iso_now)
    updated_at: str = field(default_factory=iso_now)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The conversation object (without entries)."""
        head = {
            "object": "conversation",
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "name": self.name,
            "description": self.description,
            "metadata": self.metadata,
        }
        if self.agent_id is not None:
            return {**head, "agent_id": self.agent_id, "agent_version": self.agent_version}
        return {
            **head,
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "completion_args": self.completion_args,
            "guardrails": self.guardrails,
        }

    def history(self) -> dict[str, Any]:
        """``conversation.history``: every entry in append order."""
        return {
            "object": "conversation.history",
            "conversation_id": self.id,
            "entries": self.entries,
        }

    def messages(self) -> dict[str, Any]:
        """``conversation.messages``: only the message input and output entries."""
        kept = [e for e in self.entries if e["type"] in ("message.input", "message.output")]
        return {"object": "conversation.messages", "conversation_id": self.id, "messages": kept}

    def index_of(self, entry_id: str) -> int | None:
        """Position of the entry ``entry_id``, if it is in this conversation."""
        return next((i for i, e in enumerate(self.entries) if e.get("id") == entry_id), None)


class ConversationStore:
    """All stored conversations of one emulator."""

    def __init__(self) -> None:
        self._conversations: dict[str, Conversation] = {}

    def clear(self) -> None:
        """Forget every conversation."""
        self._conversations.clear()

    def save(self, conversation: Conversation) -> None:
        """Store (or re-store) ``conversation`` and touch its ``updated_at``."""
        conversation.updated_at = iso_now()
        self._conversations[conversation.id] = conversation

    def get(self, conversation_id: str) -> Conversation:
        """The conversation ``conversation_id``.

        Raises:
            ApiError: Mistral's 404 body for an unknown id.
        """
        found = self._conversations.get(conversation_id)
        if found is None:
            raise not_found("Conversation", conversation_id)
        return found

    def page(self, page: int, page_size: int) -> list[dict[str, Any]]:
        """Conversation objects newest first, one page (0-indexed)."""
        newest = list(reversed(self._conversations.values()))
        return [c.summary() for c in newest[page * page_size : (page + 1) * page_size]]

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation.

        Raises:
            ApiError: 404 for an unknown id.
        """
        self.get(conversation_id)
        del self._conversations[conversation_id]
