"""Deterministic function calling: which tools a turn calls, their arguments and call ids.

A turn calls a tool when the user text names it (``"call get_weather"``), or when the tool
choice forces one. Arguments follow the tool's JSON Schema: a value written ``key=value`` or
``key: value`` in the text wins, else a stable default for the property's type.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Mistral tool-call ids are 9 alphanumerics (mistral-api.md §0, code 3280).
_ID_ALPHABET = string.ascii_letters + string.digits
_DEFAULTS: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
}


@dataclass(frozen=True)
class ToolSpec:
    """A callable function: its name and JSON Schema parameters."""

    name: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class PlannedCall:
    """One function call the emulated model makes."""

    tool_call_id: str
    name: str
    #: JSON text of the arguments object (Mistral sends a string).
    arguments: str


def mentioned(tools: Sequence[ToolSpec], text: str) -> list[ToolSpec]:
    """The tools whose name appears as a word in ``text``, in order of appearance."""
    positions = []
    for tool in tools:
        match = re.search(rf"(?<![\w-]){re.escape(tool.name)}(?![\w-])", text)
        if match:
            positions.append((match.start(), tool))
    return [tool for _, tool in sorted(positions, key=lambda p: p[0])]


def plan_calls(tools: Sequence[ToolSpec], text: str, seed: str) -> list[PlannedCall]:
    """Calls for ``tools`` with arguments read from ``text`` and ids derived from ``seed``."""
    return [
        PlannedCall(
            tool_call_id=call_id(f"{seed}:{index}:{tool.name}"),
            name=tool.name,
            arguments=json.dumps(arguments_for(tool.parameters, text)),
        )
        for index, tool in enumerate(tools)
    ]


def arguments_for(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """An object for the JSON Schema ``schema``: the required properties (all if none listed)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    names = schema.get("required") or list(properties)
    return {
        name: _value(properties.get(name) or {}, name, text)
        for name in names
        if isinstance(name, str)
    }


def call_id(seed: str) -> str:
    """A 9-character alphanumeric id derived from ``seed`` (stable across runs)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return "".join(chars)


def _value(prop: dict[str, Any], name: str, text: str) -> Any:
    kind = prop.get("type", "string")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    found = re.search(rf"\b{re.escape(name)}\s*[=:]\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+)", text)
    if found:
        return _coerce(found.group(1).strip("\"'"), kind)
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"][0]
    if kind == "object":
        return arguments_for(prop, text)
    return _DEFAULTS.get(str(kind), "example")


def _coerce(raw: str, kind: Any) -> Any:
    converters: dict[str, Any] = {
        "integer": int,
        "number": float,
        "boolean": lambda v: v.lower() in ("true", "1", "yes"),
    }
    try:
        return converters.get(str(kind), str)(raw)
    except ValueError:
        return _DEFAULTS.get(str(kind), raw)
