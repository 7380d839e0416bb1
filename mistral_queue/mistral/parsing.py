"""Reading Mistral's error bodies and rate-limit headers (mistral-api.md §3, §4)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

#: Longest error body (characters) kept on an error, so job records stay small.
MAX_BODY_CHARS = 2000

#: Longest non-JSON error text (characters) used as a message.
MAX_MESSAGE_CHARS = 500

#: A 429 with this header at 0 means the key has no allowance at all (mistral-api.md §3).
NO_ALLOWANCE_HEADER = "x-ratelimit-limit-req-minute"

_RETRY_HEADERS = ("retry-after", "retry-after-ms")


def error_body(response: httpx.Response) -> Any:
    """The error body to keep: parsed JSON, else text, truncated to MAX_BODY_CHARS; or None."""
    text = response.text
    if not text:
        return None
    if len(text) > MAX_BODY_CHARS:
        return text[:MAX_BODY_CHARS] + "…"
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_message(response: httpx.Response) -> str:
    """Mistral's message from any documented or observed error body shape.

    Shapes (mistral-api.md §3): ``{"object": "error", "message": "…", …}``,
    ``{"message": "…"}``, ``{"detail": "…"}``, FastAPI's 422 ``{"detail": [{loc, msg, …}]}``
    (each ``loc: msg``, joined with ``; ``) and the wrapped ``{"message": {"detail": […]}}``.
    Falls back to the body text, then to the status line.
    """
    text = response.text.strip()
    try:
        found = message_from_body(json.loads(text)) if text else None
    except ValueError:
        found = None
    if found:
        return found
    if text and not text.startswith(("{", "[")):
        return text[:MAX_MESSAGE_CHARS]
    return f"{response.status_code} {response.reason_phrase}".strip()


def message_from_body(data: Any) -> str | None:
    """The human message inside a parsed error body, or None when there is none."""
    if isinstance(data, str):
        return data or None
    if isinstance(data, list):
        return _validation_message(data)
    if isinstance(data, dict):
        for key in ("message", "detail", "error"):
            found = message_from_body(data.get(key))
            if found:
                return found
    return None


def _validation_message(items: list[Any]) -> str | None:
    """Join FastAPI validation errors as ``body.field: msg; …``."""
    parts = []
    for item in items:
        if isinstance(item, dict) and "msg" in item:
            loc = ".".join(str(part) for part in item.get("loc") or ())
            parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
        else:
            parts.append(str(item))
    return "; ".join(parts) or None


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None.

    ``retry-after-ms`` wins over ``Retry-After`` (delay-seconds or an HTTP-date, RFC 9110
    §10.2.3), the order the Mistral SDK uses (mistral-api.md §4). Dates in the past give 0.
    """
    millis = _float(headers.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, int | float | str]:
    """The rate-limit headers (``x-ratelimit-*``, older ``ratelimitbysize-*``), numbers parsed."""
    return {
        name.lower(): _number(value)
        for name, value in headers.items()
        if "ratelimit" in name.lower()
    }


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping from a success: rate-limit ones and ``retry-after(-ms)``."""
    return {
        name.lower(): value
        for name, value in headers.items()
        if "ratelimit" in name.lower() or name.lower() in _RETRY_HEADERS
    }


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # "inf" and "nan" parse but are no delay and not JSON-safe.
    return number if math.isfinite(number) else None


def _number(value: str) -> int | float | str:
    try:
        return int(value)
    except ValueError:
        number = _float(value)
        return value if number is None else number
