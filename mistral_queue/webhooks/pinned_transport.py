"""An httpx client that connects only to addresses the URL guard has checked.

The guard resolves a callback host once; if httpx then resolved it again, a DNS rebinding
attacker could answer the second lookup with an internal address. So the client's httpcore
network backend never resolves: ``connect_tcp`` looks the host up in the pins set by
``pinned(guarded)`` for the current context and dials those addresses, failing closed for a
host without pins. Only the TCP target changes: httpcore still takes the ``Host`` header, TLS
SNI and certificate verification from the URL's host name (httpcore ``_sync/connection.py``).
A kept-alive connection may serve a later delivery to the same origin; it still leads to an
address that passed the guard, and that delivery must pass the guard again first.

In Celery's threads pool each thread gets its own client (``thread_client``); in a green
pool (gevent), where every task is a new greenlet, the process shares one whose pool has a
connection per greenlet. The pins are a ContextVar, which greenlets keep apart as threads do.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar

import httpcore
import httpx

from mistral_queue.green import is_green
from mistral_queue.webhooks.deadline import DeadlineStream, bounded
from mistral_queue.webhooks.guard import GuardedURL

#: host (as httpcore passes it: lower case, IPv6 without brackets) -> addresses to dial.
_PINS: ContextVar[Mapping[str, tuple[str, ...]] | None] = ContextVar("webhook_pins", default=None)

_local = threading.local()

#: Connections of a green process's one delivery client (see mistral/client.py).
GREEN_MAX_CONNECTIONS = 2048


class _Shared:
    client: httpx.Client | None = None


@contextlib.contextmanager
def pinned(guarded: GuardedURL) -> Iterator[None]:
    """Within this block, connections to ``guarded.host`` go to its checked addresses only."""
    pins = {**(_PINS.get() or {}), guarded.host: tuple(str(ip) for ip in guarded.addresses)}
    token = _PINS.set(pins)
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore backend that dials the pinned addresses of a host, never resolving it."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first pinned address of ``host`` that accepts.

        The stream is a ``DeadlineStream``: within ``deadline.deadline(...)`` each operation
        on it ends by the deadline, and so do these connects.

        Raises:
            httpcore.ConnectError: the host has no pins, or no address accepted.
            httpcore.ConnectTimeout: the last address timed out (each address gets
                ``timeout`` seconds, or what is left of the deadline).
        """
        addresses = (_PINS.get() or {}).get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"refusing to connect to {host}: not checked by the guard")
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return self._connect(address, port, timeout, local_address, socket_options)
        return self._connect(addresses[-1], port, timeout, local_address, socket_options)

    def _connect(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        left = bounded(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(address, port, left, local_address, socket_options)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Refused: callbacks only go over TCP.

        Raises:
            httpcore.ConnectError: always.
        """
        raise httpcore.ConnectError("unix sockets are not allowed for callbacks")

    def sleep(self, seconds: float) -> None:
        """Sleep, as the default backend does (used by httpcore's connect retries)."""
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses ``PinnedBackend``.

    httpx has no public knob for the network backend (encode/httpx#3749 proposes one), so the
    pool that ``HTTPTransport.__init__`` builds is replaced by one made with the public
    ``httpcore.ConnectionPool`` constructor.
    """

    def __init__(self, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None):
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False)
        limits = limits or httpx.Limits(max_connections=10, max_keepalive_connections=5)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(),
        )


def make_client(
    verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None
) -> httpx.Client:
    """A client for callback delivery: pinned connections, no redirects, no proxies from the
    environment (a proxy would do its own lookup), no ``.netrc``.

    Args:
        verify: TLS verification; an ``ssl.SSLContext`` to trust a private CA (tests).
        limits: the connection pool's limits (default: 10 connections, 5 kept alive).
    """
    return httpx.Client(
        transport=PinnedTransport(verify=verify, limits=limits),
        follow_redirects=False,
        trust_env=False,
    )


def thread_client() -> httpx.Client:
    """This thread's delivery client (a green process's one client), made on first use."""
    if is_green():
        shared = _Shared.client
        if shared is None or shared.is_closed:
            size = GREEN_MAX_CONNECTIONS
            shared = make_client(limits=httpx.Limits(max_connections=size,
                                                     max_keepalive_connections=size))  # fmt: skip
            _Shared.client = shared
        return shared
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None or client.is_closed:
        client = make_client()
        _local.client = client
    return client
