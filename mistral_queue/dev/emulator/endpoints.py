"""Non-chat endpoints answered from a JSON body: shared by their routes and batch lines.

Each answer function validates ``body`` with the endpoint's request model (raising
pydantic's ``ValidationError``, which the routes and the batch runner turn into a 422) and
returns the JSON response with its token cost for the rate-limit window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mistral_queue.dev.emulator.classifiers import (
    ChatClassificationRequest,
    ChatModerationRequest,
    TextRequest,
    chat_texts,
    classification_chats,
    classify,
    moderate,
    moderation_chats,
    text_inputs,
)
from mistral_queue.dev.emulator.embeddings import EmbeddingRequest, embed
from mistral_queue.dev.emulator.fim import FIMCompletionRequest, fill
from mistral_queue.dev.emulator.ocr import OCRRequest, process
from mistral_queue.dev.emulator.state import EmulatorState

Answer = Callable[[dict[str, Any], EmulatorState], tuple[dict[str, Any], int]]


def embeddings(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/embeddings``."""
    answer = embed(state.config, EmbeddingRequest.model_validate(body))
    return answer, answer["usage"]["total_tokens"]


def fim(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/fim/completions``, never streamed (the route streams on its own)."""
    request = FIMCompletionRequest.model_validate(body)
    completion = fill(state.config, request)
    return completion.response(), completion.total_tokens


def moderations(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/moderations``."""
    request = TextRequest.model_validate(body)
    return _costed(moderate(state.config, request.model, text_inputs(request)))


def chat_moderations(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/chat/moderations``: one result per conversation."""
    request = ChatModerationRequest.model_validate(body)
    return _costed(moderate(state.config, request.model, chat_texts(moderation_chats(request))))


def classifications(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/classifications``."""
    request = TextRequest.model_validate(body)
    return _costed(classify(request.model, text_inputs(request)))


def chat_classifications(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/chat/classifications``: one result per conversation."""
    request = ChatClassificationRequest.model_validate(body)
    return _costed(classify(request.model, chat_texts(classification_chats(request))))


def ocr(body: dict[str, Any], state: EmulatorState) -> tuple[dict[str, Any], int]:
    """``/v1/ocr``; costs 1,000 tokens a page (OCR is billed by page, not token)."""
    answer = process(state.config, state.files, OCRRequest.model_validate(body))
    return answer, 1000 * answer["usage_info"]["pages_processed"]


def _costed(answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return answer, answer["usage"]["total_tokens"]


#: Endpoint path -> answer, for every non-chat endpoint a batch job may name.
ANSWERS: dict[str, Answer] = {
    "/v1/embeddings": embeddings,
    "/v1/fim/completions": fim,
    "/v1/moderations": moderations,
    "/v1/chat/moderations": chat_moderations,
    "/v1/classifications": classifications,
    "/v1/chat/classifications": chat_classifications,
    "/v1/ocr": ocr,
}
