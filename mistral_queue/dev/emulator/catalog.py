"""The model cards of ``GET /v1/models`` (shape: mistral-api.md §2 "Models list")."""

from __future__ import annotations

from typing import Any

#: Unix seconds shown as every card's ``created``; fixed so answers are stable.
_CREATED = 1_718_000_000


def is_embedding_model(model: str) -> bool:
    """Whether ``model`` only serves embeddings (no chat, no function calling)."""
    return "embed" in model


def is_moderation_model(model: str) -> bool:
    """Whether ``model`` serves ``/v1/moderations`` (and only that, with classification)."""
    return "moderation" in model


def is_classifier_model(model: str) -> bool:
    """Whether ``model`` serves ``/v1/classifications``: a fine-tuned classifier or moderation."""
    return model.startswith("ft:classifier:") or is_moderation_model(model)


def is_ocr_model(model: str) -> bool:
    """Whether ``model`` serves ``/v1/ocr`` (and nothing else)."""
    return "ocr" in model


def serves_chat(model: str) -> bool:
    """Whether ``model`` serves chat completions."""
    return not (is_embedding_model(model) or is_moderation_model(model) or is_ocr_model(model))


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` reasons first, sending ``thinking`` content chunks (Magistral)."""
    return model.startswith("magistral")


def model_card(model: str) -> dict[str, Any]:
    """The ``base`` model card of ``model``."""
    embed = not serves_chat(model)
    return {
        "id": model,
        "object": "model",
        "created": _CREATED,
        "owned_by": "mistralai",
        "name": model,
        "description": f"{model} (emulated)",
        "type": "base",
        "max_context_length": 8192 if embed else 131072,
        "aliases": [],
        "deprecation": None,
        "default_model_temperature": None if embed else 0.3,
        "capabilities": {
            "completion_chat": not embed,
            "function_calling": not embed,
            "completion_fim": model.startswith("codestral"),
            "fine_tuning": False,
            "vision": False,
            "classification": is_classifier_model(model),
        },
    }


def model_list(models: tuple[str, ...]) -> dict[str, Any]:
    """The ``{object: "list", data: [card]}`` body."""
    return {"object": "list", "data": [model_card(m) for m in models]}
