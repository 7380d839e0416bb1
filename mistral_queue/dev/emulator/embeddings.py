"""``/v1/embeddings``: deterministic unit vectors (SDK 3.7 ``EmbeddingResponse`` shape).

The vector of a text is seeded by its SHA-256, so equal texts get equal vectors across runs.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.dev.emulator.catalog import is_embedding_model
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import invalid_model
from mistral_queue.dev.emulator.text import count_tokens

#: Dimensions of ``mistral-embed`` vectors.
DEFAULT_DIMENSIONS = 1024


class EmbeddingRequest(BaseModel):
    """Body of ``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str
    input: str | list[str] = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    output_dimension: int | None = Field(default=None, ge=1, le=4096)
    output_dtype: Literal["float", "int8", "uint8", "binary", "ubinary"] | None = None
    encoding_format: Literal["float", "base64"] | None = None


def embed(config: EmulatorConfig, request: EmbeddingRequest) -> dict[str, Any]:
    """The embeddings response for ``request``.

    Raises:
        ApiError: 400 ``invalid_model`` when the model is unknown or not an embedding model.
    """
    if request.model not in config.models or not is_embedding_model(request.model):
        raise invalid_model(request.model)
    texts = [request.input] if isinstance(request.input, str) else request.input
    size = request.output_dimension or DEFAULT_DIMENSIONS
    tokens = sum(count_tokens(text) for text in texts)
    return {
        "id": uuid.uuid4().hex,
        "object": "list",
        "model": request.model,
        "data": [
            {"object": "embedding", "embedding": vector(text, size), "index": index}
            for index, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
    }


def vector(text: str, size: int) -> list[float]:
    """A unit vector of ``size`` floats derived from ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
