"""Routes of the non-chat endpoints: FIM (± stream), moderations, classifications, OCR.

Bodies are validated by FastAPI against the request models (422 with ``detail`` like
Mistral), then answered by ``endpoints.py``. The FIM stream is chat's data-only SSE.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mistral_queue.dev.emulator import endpoints
from mistral_queue.dev.emulator.classifiers import (
    ChatClassificationRequest,
    ChatModerationRequest,
    TextRequest,
)
from mistral_queue.dev.emulator.fim import FIMCompletionRequest, fill
from mistral_queue.dev.emulator.middleware import wants_stream_error
from mistral_queue.dev.emulator.ocr import OCRRequest
from mistral_queue.dev.emulator.state import EmulatorState, StateDep
from mistral_queue.dev.emulator.wire import data_stream, json_response

router = APIRouter(prefix="/v1")


@router.post("/fim/completions")
async def fim_completions(
    body: FIMCompletionRequest, request: Request, state: StateDep
) -> Response:
    """A FIM completion, as JSON or (``stream: true``) as data-only SSE."""
    completion = fill(state.config, body)
    cost = completion.total_tokens
    if body.stream:
        chunks = completion.chunks(fail=wants_stream_error(request.scope))
        delay = state.faults.faults.stream_chunk_delay_ms
        return data_stream(chunks, delay_ms=delay, cost=cost)
    return json_response(completion.response(), cost=cost)


@router.post("/moderations")
async def moderations(body: TextRequest, state: StateDep) -> Response:
    """Moderation scores for one text or a list."""
    return _answer(endpoints.moderations, body.model_dump(exclude_none=True), state)


@router.post("/chat/moderations")
async def chat_moderations(body: ChatModerationRequest, state: StateDep) -> Response:
    """Moderation scores for one conversation or a list."""
    return _answer(endpoints.chat_moderations, body.model_dump(), state)


@router.post("/classifications")
async def classifications(body: TextRequest, state: StateDep) -> Response:
    """Classifier scores for one text or a list."""
    return _answer(endpoints.classifications, body.model_dump(exclude_none=True), state)


@router.post("/chat/classifications")
async def chat_classifications(body: ChatClassificationRequest, state: StateDep) -> Response:
    """Classifier scores for one conversation or a list."""
    return _answer(endpoints.chat_classifications, body.model_dump(), state)


@router.post("/ocr")
async def ocr(body: OCRRequest, state: StateDep) -> Response:
    """The pages of a document URL, an image URL or an uploaded file."""
    return _answer(endpoints.ocr, body.model_dump(exclude_none=True), state)


def _answer(answer: endpoints.Answer, body: dict[str, Any], state: EmulatorState) -> Response:
    data, cost = answer(body, state)
    return json_response(data, cost=cost)
