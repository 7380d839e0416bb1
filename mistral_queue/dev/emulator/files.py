"""Files kept on disk in a private temporary directory (SDK 3.7 ``FileSchema`` shape).

Content never sits in memory as a whole: uploads are copied in chunks, batch inputs are read
line by line and batch outputs are written line by line.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mistral_queue.dev.emulator.errors import not_found
from mistral_queue.dev.emulator.ids import unix_now

#: ``sample_type`` Mistral gives an uploaded file of each purpose.
_SAMPLE_TYPES = {"batch": "batch_request", "fine-tune": "instruct"}
_CHUNK = 1 << 16


@dataclass
class StoredFile:
    """One file's metadata and where its bytes are."""

    id: str
    filename: str
    purpose: str
    sample_type: str
    source: str
    size: int
    num_lines: int
    created_at: int
    path: Path
    visibility: str | None = "workspace"
    expires_at: int | None = None
    mimetype: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.num_lines,
            "mimetype": self.mimetype,
            "signature": None,
            "expires_at": self.expires_at,
            "visibility": self.visibility,
        }


class FileStore:
    """All files of one emulator; bytes live under a temporary directory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="mistral-emulator-")
        self._files: dict[str, StoredFile] = {}

    def clear(self) -> None:
        """Delete every file."""
        for stored in self._files.values():
            stored.path.unlink(missing_ok=True)
        self._files.clear()

    def close(self) -> None:
        """Delete every file and the directory holding them."""
        self._files.clear()
        self._dir.cleanup()

    def new_path(self) -> Path:
        """A fresh path under the store's directory, for a file about to be written."""
        return Path(self._dir.name) / uuid.uuid4().hex

    def upload(
        self,
        source: BinaryIO,
        *,
        filename: str,
        purpose: str,
        visibility: str | None,
        expiry_hours: int | None,
    ) -> StoredFile:
        """Store an uploaded file, copying it in 64 KiB chunks."""
        path = self.new_path()
        with path.open("wb") as target:
            shutil.copyfileobj(source, target, _CHUNK)
        stored = self.register(
            path,
            filename=filename,
            purpose=purpose,
            sample_type=_SAMPLE_TYPES.get(purpose, "pretrain"),
            source="upload",
        )
        stored.visibility = visibility or "workspace"
        if expiry_hours is not None:
            stored.expires_at = stored.created_at + expiry_hours * 3600
        return stored

    def register(
        self, path: Path, *, filename: str, purpose: str, sample_type: str, source: str
    ) -> StoredFile:
        """Add a file already written at ``path`` (e.g. a batch output)."""
        stored = StoredFile(
            id=str(uuid.uuid4()),
            filename=filename,
            purpose=purpose,
            sample_type=sample_type,
            source=source,
            size=path.stat().st_size,
            num_lines=_count_lines(path),
            created_at=unix_now(),
            path=path,
        )
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        """The file ``file_id``.

        Raises:
            ApiError: Mistral's 404 body for an unknown id.
        """
        stored = self._files.get(file_id)
        if stored is None:
            raise not_found("File", file_id)
        return stored

    def page(
        self,
        page: int,
        page_size: int,
        *,
        purpose: str | None = None,
        sample_types: list[str] | None = None,
        sources: list[str] | None = None,
        search: str | None = None,
    ) -> tuple[list[StoredFile], int]:
        """One page (0-indexed) of matching files, newest first, and the number matching."""
        found = [
            f
            for f in reversed(self._files.values())
            if (purpose is None or f.purpose == purpose)
            and (not sample_types or f.sample_type in sample_types)
            and (not sources or f.source in sources)
            and (search is None or search in f.filename or search == f.id)
        ]
        return found[page * page_size : (page + 1) * page_size], len(found)

    def delete(self, file_id: str) -> None:
        """Delete a file and its bytes.

        Raises:
            ApiError: 404 for an unknown id.
        """
        self.get(file_id).path.unlink(missing_ok=True)
        del self._files[file_id]


def read_lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of the file at ``path``, read one at a time."""
    with path.open("rb") as source:
        for line in source:
            if line.strip():
                yield line


def _count_lines(path: Path) -> int:
    return sum(1 for _ in read_lines(path))
