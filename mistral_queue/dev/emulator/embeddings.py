"""``/v1/embeddings``: deterministic unit vectors (SDK 3.7 ``EmbeddingResponse`` shape).

``output_dimension`` sets the length; ``output_dtype`` quantizes (see ``quantize``).

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
from mistral_queue.dev.emulator.errors import ApiError, invalid_model
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
    if request.encoding_format == "base64":
        raise ApiError(400, "encoding_format base64 is not emulated", param="encoding_format")
    texts = [request.input] if isinstance(request.input, str) else request.input
    size = request.output_dimension or DEFAULT_DIMENSIONS
    dtype = request.output_dtype or "float"
    tokens = sum(count_tokens(text) for text in texts)
    return {
        "id": uuid.uuid4().hex,
        "object": "list",
        "model": request.model,
        "data": [
            {
                "object": "embedding",
                "embedding": quantize(vector(text, size), dtype),
                "index": index,
            }
            for index, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
    }


def quantize(values: list[float], dtype: str) -> list[float] | list[int]:
    """``values`` in ``output_dtype``: ``int8`` in [-128, 127], ``uint8`` in [0, 255], and
    ``binary``/``ubinary`` one sign bit per dimension packed 8 to a byte (so 1/8 as many
    numbers), signed or unsigned, as Mistral documents for ``codestral-embed``."""
    if dtype == "float":
        return values
    if dtype in ("int8", "uint8"):
        signed = [max(-128, min(127, round(v * 127 * 8))) for v in values]
        return signed if dtype == "int8" else [v + 128 for v in signed]
    packed = []
    for start in range(0, len(values), 8):
        byte = 0
        for bit, value in enumerate(values[start : start + 8]):
            byte |= (value > 0) << (7 - bit)
        packed.append(byte - 128 if dtype == "binary" else byte)
    return packed


def vector(text: str, size: int) -> list[float]:
    """A unit vector of ``size`` floats derived from ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
