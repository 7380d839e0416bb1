"""``request`` bodies of the single-endpoint job kinds: Mistral's own bodies, passed through.

Each model checks only what Mistral requires and keeps every other field (``extra="allow"``),
as ``ChatRequest`` does (SDK 3.7 request models):

- ``embeddings``: ``EmbeddingRequest`` ``{model, input: str | [str], output_dimension,
  output_dtype, ...}`` for ``/v1/embeddings``;
- ``ocr``: ``OCRRequest`` ``{model, document: {type: document_url | image_url | file, ...},
  pages, ...}`` for ``/v1/ocr``;
- ``moderation``: ``{model, input}`` for ``/v1/moderations`` when ``input`` is text, for
  ``/v1/chat/moderations`` when it is messages (or a list of conversations);
- ``classification``: ``{model, input}`` for ``/v1/classifications`` when ``input`` is text,
  for ``/v1/chat/classifications`` when it is ``{messages}`` (or a list of them);
- ``fim``: ``FIMCompletionRequest`` ``{model, prompt, suffix, stream, ...}`` for
  ``/v1/fim/completions``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_MODEL = Field(min_length=1, max_length=200)
#: Most inputs one embeddings job takes (the job splits them into calls).
MAX_EMBEDDING_INPUTS = 100_000


class EmbeddingsRequest(BaseModel):
    """A Mistral embeddings body."""

    model_config = ConfigDict(extra="allow")

    model: str = _MODEL
    input: str | list[str] = Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)


class OCRDocument(BaseModel):
    """The ``document`` chunk: a URL to a document or an image, or an uploaded file's id."""

    model_config = ConfigDict(extra="allow")

    type: Literal["document_url", "image_url", "file"]
    document_url: str | None = Field(default=None, max_length=8192)
    image_url: str | dict[str, Any] | None = None
    file_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _source(self) -> OCRDocument:
        if self.type == "document_url" and not self.document_url:
            raise ValueError("a document_url document needs document_url")
        if self.type == "image_url" and not self.image_url:
            raise ValueError("an image_url document needs image_url")
        if self.type == "file" and not self.file_id:
            raise ValueError("a file document needs file_id")
        return self


class OCRRequest(BaseModel):
    """A Mistral OCR body."""

    model_config = ConfigDict(extra="allow")

    model: str = _MODEL
    document: OCRDocument
    #: Page indices, or Mistral's range text (``"0-3,7"``), which is sent as it is.
    pages: list[int] | str | None = Field(default=None, min_length=1, max_length=10_000)


class InputRequest(BaseModel):
    """A moderation or classification body: ``input`` is text or conversations."""

    model_config = ConfigDict(extra="allow")

    model: str = _MODEL
    input: str | list[Any] | dict[str, Any]

    @model_validator(mode="after")
    def _not_empty(self) -> InputRequest:
        if not self.input:
            raise ValueError("input must not be empty")
        return self


class FIMRequest(BaseModel):
    """A Mistral FIM body."""

    model_config = ConfigDict(extra="allow")

    model: str = _MODEL
    prompt: str
    stream: bool = False
