"""What start-up refuses as a secret: placeholders, too-short values and repeated patterns.

The shipped ``.env.example`` holds placeholders (``REPLACE-ME``) so a deployment that copies
it unchanged does not start. Each check returns a reason without the value, so the
start-up error can name the variable without leaking what was configured.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

#: Standard Webhooks v1 §Secret: at least 192 bits of key material.
MIN_WEBHOOK_SECRET_BYTES = 24

#: Substrings of sample values, compared case-insensitively.
PLACEHOLDERS = ("replace-me", "replace_me", "replaceme", "change-me", "change_me", "changeme",
                "placeholder", "your-key", "your_key", "<", ">")  # fmt: skip

#: Shortest API key accepted, characters (``secrets.token_urlsafe(32)`` gives 43).
MIN_API_KEY_CHARS = 8

#: Shortest admin key accepted, characters.
MIN_ADMIN_KEY_CHARS = 16

#: Shortest password (e.g. Flower's basic auth) accepted, characters.
MIN_PASSWORD_CHARS = 8

#: Longest period still called a repeated pattern (``abab…``, ``\\x00\\x00…``).
_MAX_PERIOD = 4


def _repeats(data: bytes) -> bool:
    """Whether ``data`` is one pattern of at most ``_MAX_PERIOD`` bytes repeated."""
    for period in range(1, _MAX_PERIOD + 1):
        if len(data) >= 2 * period and all(data[i] == data[i % period] for i in range(len(data))):
            return True
    return False


def placeholder_problem(value: str) -> str | None:
    """A reason when ``value`` is a sample placeholder, else None."""
    lowered = value.lower()
    if any(mark in lowered for mark in PLACEHOLDERS):
        return "is a placeholder: generate your own value"
    return None


def text_problem(value: str, min_chars: int) -> str | None:
    """Why ``value`` is not acceptable as a key or password, or None when it is.

    Args:
        value: the secret text.
        min_chars: the shortest length accepted.
    """
    found = placeholder_problem(value)
    if found:
        return found
    if len(value) < min_chars:
        return f"is shorter than {min_chars} characters"
    if _repeats(value.encode()):
        return "repeats one short pattern: generate a random value"
    return None


def key_bytes_problem(key: bytes) -> str | None:
    """Why decoded key material (e.g. a ``whsec_`` secret) is weak, or None.

    Catches the all-zero and other repeated-byte keys a sample file might ship.
    """
    if _repeats(key):
        return "is a repeated byte pattern (e.g. all zeros): generate a random secret"
    if len(set(key)) < len(key) // 4:
        return "has too few distinct bytes to be random: generate a random secret"
    return None


def refuse_weak(field: str, value: Any) -> None:
    """Refuse a weak ``api_keys`` entry, ``admin_key`` or Flower password (a settings check).

    Raises:
        ValueError: naming the tenant (for a key), never the value.
    """
    if field == "api_keys":
        for api_key in value:
            weak = text_problem(api_key.key.get_secret_value(), MIN_API_KEY_CHARS)
            if weak:
                raise ValueError(f"the key of tenant {api_key.tenant!r} {weak}")
    elif field == "admin_key" and value is not None:
        weak = text_problem(value.get_secret_value(), MIN_ADMIN_KEY_CHARS)
        if weak:
            raise ValueError(f"the key {weak}")
    elif field == "flower_basic_auth" and value is not None:
        password = value.get_secret_value().partition(":")[2]
        weak = text_problem(password, MIN_PASSWORD_CHARS) if password else None
        if weak:
            raise ValueError(f"the password {weak}")


def decode_webhook_secret(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_`` secret.

    Raises:
        ValueError: a placeholder, a missing prefix, a rest that is not base64, a key shorter
            than 24 bytes (Standard Webhooks v1 §Secret) or a repeated byte pattern.
    """
    placeholder = placeholder_problem(secret)
    if placeholder:
        raise ValueError(placeholder)
    if not secret.startswith("whsec_"):
        raise ValueError("must start with 'whsec_'")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the part after 'whsec_' is not valid base64") from exc
    if len(key) < MIN_WEBHOOK_SECRET_BYTES:
        raise ValueError(f"must decode to at least {MIN_WEBHOOK_SECRET_BYTES} bytes")
    weak = key_bytes_problem(key)
    if weak:
        raise ValueError(weak)
    return key
