"""One webhook delivery attempt: guard, sign, POST, and report what happened.

The caller (the callbacks Celery task) owns scheduling: it reads ``ok``, ``gone`` and
``retry_after`` and decides when, or whether, to try again. Success, redirect and 410 rules
follow Standard Webhooks v1 §Delivery (webhooks.md §1): only 2xx succeeds, 3xx is a failure
and is not followed, 410 means the receiver wants no more attempts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from mistral_queue import __version__, tracing
from mistral_queue.webhooks.deadline import deadline
from mistral_queue.webhooks.errors import UnsafeURLError
from mistral_queue.webhooks.guard import check_url
from mistral_queue.webhooks.pinned_transport import pinned, thread_client
from mistral_queue.webhooks.signing import Secret, sign_headers

USER_AGENT = f"mistral-queue-webhooks/{__version__}"

#: Bytes of a receiver's response body read before giving up on it (Svix keeps 20,000).
MAX_RESPONSE_BYTES = 20_000
_MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt did.

    Attributes:
        ok: the receiver answered 2xx.
        status_code: the receiver's HTTP status, None when no response came.
        retry_after: seconds the receiver asked to wait (its ``Retry-After``), if any;
            ``math.inf`` for an unreadable one (see ``parse_retry_after``).
        gone: the receiver answered 410: stop retrying.
        error: a short reason when not ``ok`` (never includes secrets or the URL).
        duration: seconds the attempt took, guard and DNS included.
    """

    ok: bool
    status_code: int | None
    retry_after: float | None
    gone: bool
    error: str | None
    duration: float


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3).

    Args:
        value: delay-seconds (``"120"``) or an HTTP-date (``parsedate_to_datetime`` reads
            IMF-fixdate and the obsolete RFC 850 and asctime forms); fractional seconds
            are tolerated.
        now: the current time for HTTP-dates, default now (UTC).

    Returns:
        None when the header is absent or blank; ``math.inf`` when it is there but not a
        valid delay (negative, NaN, not a number nor a date), which callers clamp to their
        longest wait; otherwise a non-negative number of seconds, possibly huge (callers
        clamp it too).
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now or datetime.now(UTC))
    return seconds if math.isfinite(seconds) and seconds >= 0 else math.inf


def _seconds_until(http_date: str, now: datetime) -> float:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.inf
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _failure(started: float, error: str) -> DeliveryResult:
    return DeliveryResult(False, None, None, False, _short(error), time.monotonic() - started)


def _from_response(response: httpx.Response, started: float) -> DeliveryResult:
    status = response.status_code
    ok = 200 <= status < 300
    error = None
    if not ok:
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
    return DeliveryResult(
        ok=ok,
        status_code=status,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        gone=status == 410,
        error=error,
        duration=time.monotonic() - started,
    )


def _post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> httpx.Response:
    with client.stream(
        "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
    ) as response:
        # Read a bounded amount so a small answer keeps the connection reusable while a
        # huge one cannot hold the worker; the status and headers are all we need.
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received >= MAX_RESPONSE_BYTES:
                break
        return response


def deliver(
    url: str,
    msg_id: str,
    body: bytes,
    *,
    secrets: Sequence[Secret],
    timeout: float,
    allow_hosts: Collection[str],
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """Make one signed delivery attempt; never raises for network or receiver problems.

    The URL guard runs again (DNS may have changed since intake) and the connection goes to
    the addresses it checked. Each call signs afresh: new ``webhook-timestamp``, same
    ``webhook-id`` (Standard Webhooks v1 §Signing).

    Args:
        url: the callback URL.
        msg_id: the ``webhook-id`` (see ``signing.event_id``).
        body: the exact JSON bytes to POST.
        secrets: the signing secrets, current one first (``whsec_…`` or key bytes).
        timeout: seconds for the whole request: connect, send, and the response up to
            ``MAX_RESPONSE_BYTES`` of its body (``webhooks.deadline``).
        allow_hosts: hosts exempt from the guard's address rules.
        client: a client from ``transport.make_client``; default this thread's client.
            A client built otherwise would not pin addresses.

    Returns:
        The outcome; a refused URL, DNS failure, refused connection or timeout gives
        ``ok=False``, ``status_code=None`` and an ``error``.

    Raises:
        ValueError: an invalid secret or ``msg_id`` (a configuration bug, not a delivery
            failure).
    """
    started = time.monotonic()
    headers = tracing.inject({**sign_headers(msg_id, body, secrets), "user-agent": USER_AGENT})
    try:
        guarded = check_url(url, allow_hosts)
    except UnsafeURLError as exc:
        return _failure(started, str(exc))
    http = client if client is not None else thread_client()
    try:
        with pinned(guarded), deadline(timeout):
            response = _post(http, url, body, headers, timeout)
    except httpx.TimeoutException as exc:
        return _failure(started, f"timed out after {timeout:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return _failure(started, f"{type(exc).__name__}: {exc}")
    return _from_response(response, started)
