"""The errors the client raises: one class per kind of refusal, all from ``ClientError``.

The server answers every error as ``{"error": {"type", "message", "details"}}`` (DESIGN.md
§ Intake API); ``APIError`` carries those three fields and the HTTP status.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class ClientError(Exception):
    """Base of every error this package raises."""


class APIConnectionError(ClientError):
    """The API could not be reached (or stopped answering) after every retry."""


class WaitTimeoutError(ClientError, TimeoutError):
    """``jobs.wait`` gave up before the job reached a final status."""


class APIError(ClientError):
    """The API answered with an error status.

    Attributes:
        status_code: the HTTP status, e.g. 404.
        type: the server's error type, e.g. ``"not_found"`` or ``"budget_exceeded"``.
        message: the server's human-readable message.
        details: the server's ``details`` (field errors for 422), or None.
        retry_after: seconds from the ``Retry-After`` header, or None.
    """

    def __init__(
        self,
        status_code: int,
        type: str,
        message: str,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code} {type}: {message}")
        self.status_code = status_code
        self.type = type
        self.message = message
        self.details = details
        self.retry_after = retry_after


class AuthenticationError(APIError):
    """401: no API key, or a key the server does not know."""


class NotFoundError(APIError):
    """404: no such job or endpoint for this key's tenant."""


class ConflictError(APIError):
    """409: the resource is in the wrong state, or an Idempotency-Key was reused."""


class ValidationError(APIError):
    """400 or 422: the request was malformed; ``details`` names the fields."""


class RateLimitError(APIError):
    """429: over a tenant quota (retried first, raised once retries are spent)."""


class BudgetExceededError(RateLimitError):
    """429 ``budget_exceeded``: a token or cost budget is spent until ``retry_after``."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (RFC 9110 delay-seconds form), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return _http_date_delay(value)


def _http_date_delay(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def from_response(response: httpx.Response) -> APIError:
    """The ``APIError`` subclass for an error response (its body read already)."""
    error: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
    except ValueError:
        pass
    kind = str(error.get("type") or response.reason_phrase or "error")
    message = str(error.get("message") or response.text[:500] or response.reason_phrase)
    cls = _BY_STATUS.get(response.status_code, APIError)
    if kind == "budget_exceeded":
        cls = BudgetExceededError
    return cls(response.status_code, kind, message, error.get("details"), retry_after(response))
