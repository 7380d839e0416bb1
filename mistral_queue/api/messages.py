"""The Mistral chat message shape that chat, agent and batch requests share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ChatMessage(BaseModel):
    """One message of a Mistral chat request (``role`` and ``content``; other keys pass through)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Any] | None = None
