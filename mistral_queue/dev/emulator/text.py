"""Text helpers shared by every endpoint: the token approximation and content extraction.

Tokens are words (``\\w+``) and single punctuation marks, so usage counts are stable and the
same function counts prompts, completions and stream chunks.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]")
#: A token with the whitespace before it, so pieces concatenate back to the text.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def count_tokens(text: str) -> int:
    """The approximate token count of ``text`` (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def token_pieces(text: str) -> list[str]:
    """Split ``text`` into one piece per token; ``"".join(pieces) == text`` when text is stripped.

    Trailing whitespace is kept on the last piece so nothing is lost.
    """
    pieces = _PIECE.findall(text)
    consumed = sum(len(p) for p in pieces)
    if pieces and consumed < len(text):
        pieces[-1] += text[consumed:]
    return pieces


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` tokens of ``text`` and whether anything was cut."""
    pieces = token_pieces(text)
    if len(pieces) <= limit:
        return text, False
    return "".join(pieces[:limit]), True


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` of its text chunks joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            chunk["text"]
            for chunk in content
            if isinstance(chunk, dict) and isinstance(chunk.get("text"), str)
        )
    return str(content)


def last_user_text(payload: Any) -> str:
    """The text a fault marker is read from in a request body.

    Chat, agents and conversations: the last user turn of ``messages`` or ``inputs`` (a
    string or entries). FIM: ``prompt``. Moderation and classification: every ``input``
    text (or the last user turn of the conversations). OCR: the document's URL or file id.
    ``""`` when there is none.
    """
    if not isinstance(payload, dict):
        return ""
    if isinstance(payload.get("prompt"), str):
        return str(payload["prompt"])
    if isinstance(payload.get("document"), dict):
        document = payload["document"]
        return str(document.get("document_url") or document.get("file_id") or "")
    turns = payload.get("messages")
    if turns is None:
        turns = payload.get("inputs", payload.get("input"))
    if isinstance(turns, dict):
        turns = turns.get("messages")
    if isinstance(turns, str):
        return turns
    if not isinstance(turns, list):
        return ""
    if turns and all(isinstance(turn, str) for turn in turns):
        return "\n".join(turns)
    for turn in reversed(_flatten(turns)):
        if isinstance(turn, dict) and turn.get("role") == "user":
            return content_text(turn.get("content"))
    return ""


def _flatten(turns: list[Any]) -> list[Any]:
    # Chat moderation takes a list of conversations; chat classification {messages} items.
    flat: list[Any] = []
    for turn in turns:
        if isinstance(turn, list):
            flat += turn
        elif isinstance(turn, dict) and isinstance(turn.get("messages"), list):
            flat += turn["messages"]
        else:
            flat.append(turn)
    return flat
