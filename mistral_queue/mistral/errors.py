"""Errors of the upstream (Mistral API) boundary and how HTTP answers map onto them.

Which answers are retried follows DESIGN.md § Retries and mistral-api.md §3: connection
errors, timeouts, 408, 429 and 5xx are; other 4xx are not, nor is a 429 that says the key
has no allowance at all (``x-ratelimit-limit-req-minute: 0``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from mistral_queue.errors import MistralQueueError
from mistral_queue.mistral.parsing import (
    NO_ALLOWANCE_HEADER,
    error_body,
    error_message,
    rate_limit_headers,
    retry_after_seconds,
)


class UpstreamError(MistralQueueError):
    """Raised when a call to the Mistral API fails; the base of every upstream error.

    Attributes:
        message: Mistral's own message when the body had one, else a description.
        status_code: the HTTP status, or None when no answer came (connection, timeout).
        body: the parsed JSON error body, or its text, truncated to 2,000 characters.
        retry_after: seconds the server asked us to wait (``retry-after-ms`` or
            ``Retry-After``), or None.
        rate_limit: the ``x-ratelimit-*`` (and older ``ratelimitbysize-*``) headers, numbers
            where they parse.
    """

    #: Whether trying the same call again may succeed.
    retryable: ClassVar[bool] = False
    #: The ``type`` this error has on a job's ``error`` field.
    error_type: ClassVar[str] = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        retry_after: float | None = None,
        rate_limit: dict[str, int | float | str] | None = None,
    ) -> None:
        super().__init__(message if status_code is None else f"HTTP {status_code}: {message}")
        self.message = message
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after
        self.rate_limit = rate_limit or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form stored on a job's ``error`` field.

        Returns:
            ``{"type", "message", "status_code", "details"}``; ``details`` holds the error
            body, ``retry_after`` and ``rate_limit`` when present. No request header (so no
            API key) is ever included.
        """
        details: dict[str, Any] = {}
        if self.body is not None:
            details["body"] = self.body
        if self.retry_after is not None:
            details["retry_after"] = self.retry_after
        if self.rate_limit:
            details["rate_limit"] = dict(self.rate_limit)
        return {
            "type": self.error_type,
            "message": self.message,
            "status_code": self.status_code,
            "details": details,
        }


class UpstreamConnectionError(UpstreamError):
    """Raised when the connection fails, is reset or drops (also mid-stream); retryable."""

    retryable = True
    error_type = "upstream_connection_error"


class UpstreamTimeout(UpstreamError):
    """Raised when connecting, sending, reading or waiting for a pooled connection times out."""

    retryable = True
    error_type = "upstream_timeout"


class InvalidResponse(UpstreamError):
    """Raised when a 2xx answer is not what the API documents (not JSON, wrong media type)."""

    # The fault is upstream's (often a proxy in between), like a 5xx.
    retryable = True
    error_type = "invalid_response"


class RateLimited(UpstreamError):
    """Raised when Mistral answers 429 (rate limit or service tier capacity); retryable."""

    retryable = True
    error_type = "rate_limited"


class NoAllowance(RateLimited):
    """Raised on a 429 with ``x-ratelimit-limit-req-minute: 0``: the key has no allowance."""

    retryable = False
    error_type = "no_allowance"


class ServerError(UpstreamError):
    """Raised on 408 and every 5xx; retryable (DESIGN lists 500/502/503/504, other 5xx too)."""

    retryable = True
    error_type = "server_error"


class RequestRejected(UpstreamError):
    """Raised on 400/401/403/404/422 and any other 4xx, or an unfollowed 3xx; never retried."""

    error_type = "request_rejected"


class DeferRetry(MistralQueueError):
    """Raised when the next retry is too far off to wait in-process; the task re-schedules.

    Attributes:
        delay: seconds to wait before the next attempt (``retry(countdown=delay)``).
        error: the retryable error of the attempt that failed.
        attempt: the global number (across task runs) of the attempt that failed.
    """

    def __init__(self, delay: float, error: UpstreamError, attempt: int) -> None:
        super().__init__(f"attempt {attempt} failed ({error}); retry in {delay:.1f} s")
        self.delay = delay
        self.error = error
        self.attempt = attempt


class RateLimitWait(MistralQueueError):
    """Raised when the deployment's rate limit has no slot soon enough; retry after ``delay``.

    Not an UpstreamError: no call was made, so it must not use up an attempt.

    Attributes:
        delay: seconds to wait before trying again (jitter included).
        model: the model the call was for.
        reason: what bound the wait: ``paused`` (after a 429), ``rps`` or ``tpm``.
    """

    def __init__(self, delay: float, model: str, reason: str) -> None:
        super().__init__(f"rate limit ({reason or 'limit'}) for {model}: retry in {delay:.2f} s")
        self.delay = delay
        self.model = model
        self.reason = reason


def error_from_response(response: httpx.Response) -> UpstreamError:
    """Build the error for a non-2xx answer; the body must already be read.

    Args:
        response: the answer; any body shape of mistral-api.md §3 is understood.

    Returns:
        RateLimited or NoAllowance (429), ServerError (408, 5xx), RequestRejected (the rest).
    """
    status = response.status_code
    limits = rate_limit_headers(response.headers)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": error_body(response),
        "retry_after": retry_after_seconds(response.headers),
        "rate_limit": limits,
    }
    message = error_message(response)
    if status == httpx.codes.TOO_MANY_REQUESTS:
        if str(limits.get(NO_ALLOWANCE_HEADER)) == "0":
            return NoAllowance(message, **kwargs)
        return RateLimited(message, **kwargs)
    if status == httpx.codes.REQUEST_TIMEOUT or status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return ServerError(message, **kwargs)
    return RequestRejected(message, **kwargs)


def error_from_exception(exc: Exception) -> UpstreamError:
    """Map an httpx exception onto an upstream error.

    Timeouts (connect, read, write, pool) become UpstreamTimeout; a bad URL or a request
    httpx refuses to send becomes RequestRejected; a body that cannot be decoded becomes
    InvalidResponse; every other transport error (connect, reset, read/write error, remote
    protocol error such as a peer closing mid-body) becomes UpstreamConnectionError.
    """
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(text)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return RequestRejected(text)
    if isinstance(exc, httpx.DecodingError):
        return InvalidResponse(text)
    return UpstreamConnectionError(text)
