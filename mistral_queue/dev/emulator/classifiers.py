"""Moderation and classification: deterministic scores with usage (SDK 3.7 shapes).

``/v1/moderations`` and ``/v1/chat/moderations`` answer ``ModerationResponse``
``{id, model, results: [{categories: {name: bool}, category_scores: {name: float}}]}``,
one result per input text or per conversation. A category scores 0.9 (flagged) when its
trigger word appears in the text, else a small score derived from the text's SHA-256.
``/v1/classifications`` and ``/v1/chat/classifications`` answer ``ClassificationResponse``
``{id, model, results: [{target: {scores: {label: float}}}]}`` for the one emulated target
``intent`` (``greeting`` / ``question`` / ``statement``). Both bodies carry ``usage`` too.
Wire names: the request field is ``input`` (the SDK's ``inputs`` is an alias).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.dev.emulator.catalog import is_classifier_model, is_moderation_model
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import invalid_model
from mistral_queue.dev.emulator.faults import strip_markers
from mistral_queue.dev.emulator.text import content_text, count_tokens

#: Mistral's moderation categories and the word that flags each one here.
CATEGORIES = {
    "sexual": "sexual",
    "hate_and_discrimination": "hate",
    "violence_and_threats": "violence",
    "dangerous_and_criminal_content": "dangerous",
    "selfharm": "selfharm",
    "health": "health",
    "financial": "financial",
    "law": "law",
    "pii": "pii",
}
#: The emulated classifier's target and labels.
TARGET, LABELS = "intent", ("greeting", "question", "statement")

_STRICT = ConfigDict(extra="forbid")


class TextRequest(BaseModel):
    """``POST /v1/moderations`` and ``/v1/classifications``: one text or a list."""

    model_config = _STRICT
    model: str
    input: str | list[str] = Field(min_length=1)
    metadata: dict[str, Any] | None = None


class ChatModerationRequest(BaseModel):
    """``POST /v1/chat/moderations``: one conversation (messages) or a list of them."""

    model_config = _STRICT
    model: str
    input: list[list[dict[str, Any]]] | list[dict[str, Any]] = Field(min_length=1)


class InstructRequest(BaseModel):
    """One conversation to classify."""

    model_config = _STRICT
    messages: list[dict[str, Any]] = Field(min_length=1)


class ChatClassificationRequest(BaseModel):
    """``POST /v1/chat/classifications``: one ``{messages}`` or a list of them."""

    model_config = _STRICT
    model: str
    input: InstructRequest | list[InstructRequest]


def moderate(config: EmulatorConfig, model: str, texts: list[str]) -> dict[str, Any]:
    """The ``ModerationResponse`` for ``texts``. Raises ApiError 400 for a non-moderation model."""
    if model not in config.models or not is_moderation_model(model):
        raise invalid_model(model)
    return _response(model, texts, [_moderation(text) for text in texts])


def classify(model: str, texts: list[str]) -> dict[str, Any]:
    """The ``ClassificationResponse`` for ``texts``. Raises ApiError 400 for another model."""
    if not is_classifier_model(model):
        raise invalid_model(model)
    return _response(model, texts, [{TARGET: {"scores": _intent(text)}} for text in texts])


def text_inputs(request: TextRequest) -> list[str]:
    """The texts of a text request."""
    return [request.input] if isinstance(request.input, str) else request.input


def chat_texts(conversations: list[list[dict[str, Any]]]) -> list[str]:
    """One text per conversation: its messages' contents joined."""
    return ["\n".join(content_text(m.get("content")) for m in chat) for chat in conversations]


def moderation_chats(request: ChatModerationRequest) -> list[list[dict[str, Any]]]:
    """The conversations of a chat moderation request."""
    if all(isinstance(item, dict) for item in request.input):
        return [request.input]  # type: ignore[list-item]
    return [list(chat) for chat in request.input]  # type: ignore[arg-type]


def classification_chats(request: ChatClassificationRequest) -> list[list[dict[str, Any]]]:
    """The conversations of a chat classification request."""
    items = request.input if isinstance(request.input, list) else [request.input]
    return [item.messages for item in items]


def _response(model: str, texts: list[str], results: list[Any]) -> dict[str, Any]:
    tokens = sum(count_tokens(text) for text in texts)
    return {
        "id": uuid.uuid4().hex,
        "model": model,
        "results": results,
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
    }


def _moderation(text: str) -> dict[str, Any]:
    words = strip_markers(text).lower()
    scores = {
        name: 0.9 if trigger in words else _small_score(f"{name}:{text}")
        for name, trigger in CATEGORIES.items()
    }
    return {
        "categories": {name: score >= 0.5 for name, score in scores.items()},
        "category_scores": scores,
    }


def _intent(text: str) -> dict[str, float]:
    words = strip_markers(text).lower()
    if words.startswith(("hi", "hello")):
        label = "greeting"
    elif "?" in words:
        label = "question"
    else:
        label = "statement"
    return {name: 0.8 if name == label else 0.1 for name in LABELS}


def _small_score(seed: str) -> float:
    return round(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF / 10, 6)
