"""Routes of ``/v1/files``: upload (multipart), list, retrieve, download, signed URL, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.responses import FileResponse, Response

from mistral_queue.dev.emulator.state import StateDep
from mistral_queue.dev.emulator.wire import json_response

router = APIRouter(prefix="/v1/files")

Purpose = Literal["fine-tune", "batch", "ocr", "agentic_safety"]


@router.post("")
async def upload_file(
    state: StateDep,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[Purpose, Form()] = "fine-tune",
    visibility: Annotated[Literal["workspace", "user"] | None, Form()] = None,
    expiry: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Store a multipart ``file`` and answer the file object (``num_lines`` counted)."""
    stored = state.files.upload(
        file.file,
        filename=file.filename or "upload.jsonl",
        purpose=purpose,
        visibility=visibility,
        expiry_hours=expiry,
    )
    return json_response(stored.to_dict())


@router.get("")
async def list_files(
    state: StateDep,
    page: int = 0,
    page_size: int = 100,
    purpose: str | None = None,
    sample_type: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    search: str | None = None,
) -> Response:
    """``{data, object: "list", total}``, newest first."""
    found, total = state.files.page(
        page, page_size, purpose=purpose, sample_types=sample_type, sources=source, search=search
    )
    data = [f.to_dict() for f in found]
    return json_response({"data": data, "object": "list", "total": total})


@router.get("/{file_id}")
async def retrieve_file(file_id: str, state: StateDep) -> Response:
    """The file object plus ``deleted: false`` (metadata only, no content)."""
    return json_response({**state.files.get(file_id).to_dict(), "deleted": False})


@router.get("/{file_id}/content")
async def download_file(file_id: str, state: StateDep) -> Response:
    """The raw bytes as ``application/octet-stream``, streamed from disk."""
    stored = state.files.get(file_id)
    return FileResponse(
        stored.path, media_type="application/octet-stream", filename=stored.filename
    )


@router.get("/{file_id}/url")
async def file_url(file_id: str, request: Request, state: StateDep, expiry: int = 24) -> Response:
    """``{url}``: the emulator's own content route (``expiry``, hours, is accepted as is)."""
    state.files.get(file_id)
    return json_response({"url": f"{request.base_url}v1/files/{file_id}/content"})


@router.delete("/{file_id}")
async def delete_file(file_id: str, state: StateDep) -> Response:
    """``{id, object: "file", deleted: true}``."""
    state.files.delete(file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})
