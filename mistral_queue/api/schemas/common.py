"""Pieces of request schemas that several job kinds share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

#: An absolute http(s) URL with a host (callback URLs, HTTP tools); the URL guard checks the rest.
HTTP_URL = r"^https?://[^\s/?#]+[^\s]*$"


class ChatMessage(BaseModel):
    """One message of a Mistral chat request (``role`` and ``content``; other keys pass through)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Any] | None = None
