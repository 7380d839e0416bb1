"""Model routes: ``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from mistral_queue.dev.emulator import endpoints
from mistral_queue.dev.emulator.catalog import model_card, model_list
from mistral_queue.dev.emulator.chat import Completion, complete
from mistral_queue.dev.emulator.chat_schema import ChatCompletionRequest
from mistral_queue.dev.emulator.embeddings import EmbeddingRequest
from mistral_queue.dev.emulator.errors import ApiError
from mistral_queue.dev.emulator.middleware import wants_stream_error
from mistral_queue.dev.emulator.state import EmulatorState, StateDep
from mistral_queue.dev.emulator.validation import check_chat_model
from mistral_queue.dev.emulator.wire import data_stream, json_response

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(
    body: ChatCompletionRequest, request: Request, state: StateDep
) -> Response:
    """A chat completion, as JSON or (``stream: true``) as data-only SSE."""
    check_chat_model(state.config, body.model)
    return render_completion(complete(body, body.model), body.stream, request, state)


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, state: StateDep) -> Response:
    """Deterministic embeddings for one text or a list of texts."""
    answer, cost = endpoints.embeddings(body.model_dump(exclude_none=True), state)
    return json_response(answer, cost=cost)


@router.get("/v1/models")
async def list_models(state: StateDep) -> Response:
    """The model cards the emulator serves."""
    return json_response(model_list(state.config.models))


@router.get("/v1/models/{model_id}")
async def retrieve_model(model_id: str, state: StateDep) -> Response:
    """One model card, or Mistral's 404 body."""
    if model_id not in state.config.models:
        raise ApiError(404, f"Model {model_id} not found", code="not_found", param="model_id")
    return json_response(model_card(model_id))


def render_completion(
    completion: Completion, stream: bool, request: Request, state: EmulatorState
) -> Response:
    """``completion`` as a JSON body or a paced SSE stream, costing its total tokens."""
    cost = completion.total_tokens
    if stream:
        delay = state.faults.faults.stream_chunk_delay_ms
        chunks = completion.chunks(fail=wants_stream_error(request.scope))
        return data_stream(chunks, delay_ms=delay, cost=cost)
    return json_response(completion.response(), cost=cost)
