"""A total deadline for one outbound request: connect, TLS, send and the whole response.

httpx timeouts are per phase and per socket operation, so a receiver that trickles one byte
every half second never trips a 1 s read timeout and can hold a worker for hours (issue 14).
Within ``deadline(seconds)`` every socket operation of the pinned transport (connect, each
read, each write, the TLS handshake) gets at most the time left until the deadline, and one
started after it fails at once with httpcore's timeout of that phase, which httpx maps to
``httpx.ConnectTimeout`` / ``ReadTimeout`` / ``WriteTimeout``. The deadline lives in a
context variable read at each operation, so a kept-alive connection opened under an earlier
request obeys the current request's deadline. Header parsing happens between reads, so a
trickled status line or header block is cut off too.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import httpcore

#: ``time.monotonic()`` value after which no socket operation may start, or None.
_DEADLINE: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Within this block, requests through the pinned transport end ``seconds`` from now.

    Yields:
        The deadline as a ``time.monotonic()`` value.
    """
    at = time.monotonic() + seconds
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the time left before the current deadline.

    Raises:
        error: the deadline has passed (an httpcore timeout class).
    """
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read once, for at most the time left (``httpcore.ReadTimeout`` past it)."""
        return self._inner.read(max_bytes, bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write all of ``buffer``, each send bounded by the time left."""
        view = memoryview(buffer)
        # httpcore's sync stream loops over send() with the same timeout each time; a
        # receiver that drains slowly would stretch that, so each chunk gets the time left.
        chunk = 64 * 1024
        for start in range(0, len(view), chunk):
            part = bytes(view[start : start + chunk])
            self._inner.write(part, bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        """Close the inner stream."""
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Upgrade to TLS within the time left (``httpcore.ConnectTimeout`` past it)."""
        left = bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        """As the inner stream."""
        return self._inner.get_extra_info(info)
