"""Identifiers and timestamps in the forms Mistral uses (mistral-api.md §0)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    """``<prefix>_<32 hex>``, e.g. ``conv_0681fd9a…`` or ``ag_…``; ``prefix=""`` gives a UUID."""
    if not prefix:
        return str(uuid.uuid4())
    return f"{prefix}_{uuid.uuid4().hex}"


def iso_now() -> str:
    """The current UTC time as ISO-8601 with a ``Z`` (agents, conversations, entries)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def unix_now() -> int:
    """The current time in Unix seconds (chat ``created``, files and batch jobs)."""
    return int(time.time())
