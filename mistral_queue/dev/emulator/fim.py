"""``/v1/fim/completions``: fill-in-the-middle for ``codestral-*`` models.

The answer is deterministic: ``"<fill for N prompt and M suffix tokens>"``, cut by ``stop``
and ``max_tokens`` like chat. The response and stream chunks are chat's
(``FIMCompletionResponse`` has ``chat.completion``'s fields; the stream is
``CompletionEvent``s ending with ``data: [DONE]``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.dev.emulator.chat import Choice, Completion
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import invalid_model
from mistral_queue.dev.emulator.faults import strip_markers
from mistral_queue.dev.emulator.text import count_tokens, truncate_tokens


class FIMCompletionRequest(BaseModel):
    """Body of ``POST /v1/fim/completions`` (SDK ``FIMCompletionRequest``)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: str
    suffix: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=1.5)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False
    stop: str | list[str] | None = None
    random_seed: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    prompt_cache_key: str | None = None


def fill(config: EmulatorConfig, request: FIMCompletionRequest) -> Completion:
    """The completion for ``request``. Raises ApiError 400 for a model without FIM."""
    if request.model not in config.models or not request.model.startswith("codestral"):
        raise invalid_model(request.model)
    prompt = strip_markers(request.prompt)
    suffix = request.suffix or ""
    prompt_tokens = count_tokens(prompt) + count_tokens(suffix)
    text = f"<fill for {count_tokens(prompt)} prompt and {count_tokens(suffix)} suffix tokens>"
    finish = "stop"
    stops = [request.stop] if isinstance(request.stop, str) else request.stop or []
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    if request.max_tokens is not None:
        text, truncated = truncate_tokens(text, request.max_tokens)
        finish = "length" if truncated else finish
    return Completion(
        id=uuid.uuid4().hex,
        created=int(time.time()),
        model=request.model,
        choices=[Choice(text, [], finish, count_tokens(text))],
        prompt_tokens=prompt_tokens,
    )
