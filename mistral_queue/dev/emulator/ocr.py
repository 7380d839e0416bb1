"""``/v1/ocr``: deterministic pages for a document URL, an image URL or an uploaded file.

- ``{"type": "document_url", "document_url": URL}``: as many pages as a ``pages=N`` in the
  URL's query or fragment says (default 2), each ``# Page i`` plus a line naming the URL.
- ``{"type": "image_url", "image_url": URL or {"url"}}``: one page.
- ``{"type": "file", "file_id": ID}``: the uploaded file's text, one page per form feed.
``pages`` (indices or ``"0-2,5"``) picks pages. The answer is SDK 3.7 ``OCRResponse``
``{pages: [{index, markdown, images, dimensions}], model, usage_info, document_annotation}``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mistral_queue.dev.emulator.catalog import is_ocr_model
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import ApiError, invalid_model
from mistral_queue.dev.emulator.files import FileStore

_PAGES_IN_URL = re.compile(r"[?#&]pages=(\d{1,4})")
_DIMENSIONS = {"dpi": 200, "height": 2200, "width": 1700}
#: Pages a document URL has when it does not say.
DEFAULT_PAGES = 2


class Document(BaseModel):
    """The ``document`` union: ``document_url``, ``image_url`` or ``file`` chunk."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["document_url", "image_url", "file"]
    document_url: str | None = None
    document_name: str | None = None
    image_url: str | dict[str, Any] | None = None
    file_id: str | None = None


class OCRRequest(BaseModel):
    """Body of ``POST /v1/ocr`` (SDK ``OCRRequest``)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None
    document: Document
    id: str | None = None
    pages: str | list[int] | None = None
    include_image_base64: bool | None = None
    image_limit: int | None = Field(default=None, ge=0)
    image_min_size: int | None = Field(default=None, ge=0)
    bbox_annotation_format: dict[str, Any] | None = None
    document_annotation_format: dict[str, Any] | None = None
    document_annotation_prompt: str | None = None
    table_format: str | None = None
    extract_header: bool | None = None
    extract_footer: bool | None = None
    include_blocks: bool | None = None
    confidence_scores_granularity: str | None = None


def process(config: EmulatorConfig, files: FileStore, request: OCRRequest) -> dict[str, Any]:
    """The ``OCRResponse`` for ``request``.

    Raises:
        ApiError: 400 for a non-OCR model, a document without its URL or file id, or a page
            out of range; 404 for an unknown file.
    """
    model = request.model or "mistral-ocr-latest"
    if model not in config.models or not is_ocr_model(model):
        raise invalid_model(model)
    texts, size = _document_pages(files, request.document)
    chosen = _chosen(request.pages, len(texts))
    pages = [
        {"index": i, "markdown": texts[i], "images": [], "dimensions": dict(_DIMENSIONS)}
        for i in chosen
    ]
    return {
        "pages": pages,
        "model": model,
        "usage_info": {"pages_processed": len(pages), "doc_size_bytes": size},
        "document_annotation": None,
    }


def _document_pages(files: FileStore, document: Document) -> tuple[list[str], int | None]:
    if document.type == "file":
        if not document.file_id:
            raise ApiError(400, "document.file_id is required", param="document.file_id")
        data = files.get(document.file_id).path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        return [page.strip() for page in text.split("\f")], len(data)
    if document.type == "image_url":
        url = document.image_url
        url = url.get("url") if isinstance(url, dict) else url
        if not url:
            raise ApiError(400, "document.image_url is required", param="document.image_url")
        return [f"![image]({url})\n\nEmulated text of the image."], None
    if not document.document_url:
        raise ApiError(400, "document.document_url is required", param="document.document_url")
    match = _PAGES_IN_URL.search(document.document_url)
    count = int(match.group(1)) if match else DEFAULT_PAGES
    return [
        f"# Page {i + 1}\n\nEmulated text of {document.document_url}." for i in range(count)
    ], None


def _chosen(pages: str | list[int] | None, count: int) -> list[int]:
    if pages is None:
        return list(range(count))
    if isinstance(pages, str):
        pages = _parse_ranges(pages)
    if any(not 0 <= page < count for page in pages):
        raise ApiError(400, f"pages must be between 0 and {count - 1}", param="pages")
    return sorted(set(pages))


def _parse_ranges(text: str) -> list[int]:
    chosen: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or len(high or low) > 4:
            raise ApiError(400, f"Invalid pages {text!r}", param="pages")
        chosen += range(int(low), int(high or low) + 1)
    return chosen
