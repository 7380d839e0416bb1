"""Mistral object ids (agents, conversations, files, batch jobs) and how they enter a path.

Mistral does not publish a strict grammar (mistral-api.md §0: ``ag_…``, ``conv_…``, UUIDs for
files and batches, and older ``ag:<hex>:<date>:<name>:<hex>`` agent ids). The grammar here is
the union of those: ASCII letters, digits, ``_``, ``-`` and ``:``, starting with a letter or
digit, at most 200 characters. It admits no ``/``, ``.``, ``%``, ``?``, ``#``, whitespace or
non-ASCII character, so an id can neither climb out of its path segment (``../agents``) nor
smuggle a query or fragment. Ids are checked at intake and encoded again when used.
"""

from __future__ import annotations

import re
from urllib.parse import quote

#: The id grammar, for pydantic ``pattern=`` (anchored; ``\Z``-strict in ``is_upstream_id``).
UPSTREAM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,199}$"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]{0,199}")


def is_upstream_id(value: object) -> bool:
    """Whether ``value`` is a string in the id grammar (the whole string, no trailing newline)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def id_path(base: str, upstream_id: str, *rest: str) -> str:
    """``base/<id>[/rest…]`` with the id as exactly one percent-encoded path segment.

    Args:
        base: a fixed path such as ``/v1/conversations`` (ours, never a caller's).
        upstream_id: the id; checked against the grammar again, so an id from anywhere
            (Mistral's own answers included) cannot reach another path.
        rest: fixed trailing segments, e.g. ``"content"`` or ``"cancel"``.

    Raises:
        ValueError: the id is not in the grammar (the message does not repeat it).
    """
    if not is_upstream_id(upstream_id):
        raise ValueError("not a Mistral object id (letters, digits, '_', '-', ':')")
    return "/".join([base.rstrip("/"), quote(upstream_id, safe=""), *rest])
