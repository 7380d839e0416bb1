"""Errors of the webhooks boundary: signing, verification and the callback URL guard."""

from __future__ import annotations

from enum import StrEnum

from mistral_queue.errors import MistralQueueError


class UnsafeReason(StrEnum):
    """Why the callback URL guard refused a URL; the value is a stable machine-readable code."""

    MALFORMED = "malformed"
    SCHEME = "scheme"
    NO_HOST = "no_host"
    UNRESOLVABLE = "unresolvable"
    METADATA = "metadata"
    UNSPECIFIED = "unspecified"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link_local"
    MULTICAST = "multicast"
    PRIVATE = "private"
    SHARED = "shared"
    RESERVED = "reserved"
    NOT_GLOBAL = "not_global"


class WebhookError(MistralQueueError):
    """Raised when signing, verifying or delivering a webhook cannot proceed."""


class UnsafeURLError(WebhookError):
    """Raised when a callback URL is refused by the SSRF guard; ``reason`` says why."""

    def __init__(self, message: str, reason: UnsafeReason) -> None:
        super().__init__(message)
        self.reason = reason


class SignatureError(WebhookError):
    """Raised when a webhook's signature headers are missing, malformed, stale or do not match."""


class PayloadError(WebhookError):
    """Raised when a webhook verifies but its body is not JSON."""
