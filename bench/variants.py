"""Our API with the broker fast path switched off, to measure it against ``send_task`` in the
same run: ``uvicorn --factory bench.variants:send_task_api`` (same environment as ``api``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mistral_queue.api.app import create_app
from mistral_queue.broker import fast_publish


def _never(_: Any) -> None:
    return None


def send_task_api() -> FastAPI:
    """The intake app whose Publisher always uses Celery's ``send_task`` in a thread."""
    fast_publish.fast_path_db = _never  # type: ignore[assignment]
    return create_app()
