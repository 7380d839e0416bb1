"""The callback URL guard: refuse URLs that would make a worker call into internal networks.

Callback URLs are chosen by API users, so a POST to them is a server-side request forgery
vector (OWASP SSRF cheat sheet, "case 2"). The guard resolves the host once, refuses the URL
when **any** address is not a public unicast one, and returns the checked addresses so the
delivery connects to exactly those (see ``transport``), leaving no second lookup for a DNS
rebinding attack. URLs are parsed with ``httpx.URL``, the parser the client itself uses, so
the guard and the connection cannot disagree about the host.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from mistral_queue.webhooks.addresses import IPAddress, address_problem, parse_ip
from mistral_queue.webhooks.errors import UnsafeReason, UnsafeURLError

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Names of cloud metadata services, refused before any lookup (GCP, AWS, Azure-style).
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
     "instance-data.ec2.internal"}
)  # fmt: skip

AddrInfo = Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class GuardedURL:
    """A callback URL that passed the guard, with the addresses it was checked against.

    ``host`` is in the form the HTTP client connects with: lower case, IDNA-encoded, IPv6
    without brackets. ``addresses`` keeps resolver order, without duplicates.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]
    allow_listed: bool


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    literal: IPAddress | None
    allow_listed: bool


def _refuse(why: str, reason: UnsafeReason) -> UnsafeURLError:
    # The URL itself stays out of the message: its query may carry the receiver's token.
    return UnsafeURLError(f"callback URL refused: {why}", reason)


def _normalise_host(host: str) -> str:
    """The comparable form of a host: lower case, no brackets, no trailing root dot."""
    return host.strip().strip("[]").lower().rstrip(".")


def _target(url: str, allow_hosts: Collection[str]) -> _Target:
    """Parse ``url`` and apply every rule that needs no DNS."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refuse("it is not a valid URL", UnsafeReason.MALFORMED) from exc
    scheme = parsed.scheme
    if scheme not in _DEFAULT_PORTS:
        why = f"scheme {scheme or '(none)'!r} is not http or https"
        raise _refuse(why, UnsafeReason.SCHEME)
    # Kept as httpcore will pass it to the network backend, which looks up pins by it.
    host = parsed.raw_host.decode("ascii").lower()
    key = _normalise_host(host)
    if not key:
        raise _refuse("it has no host", UnsafeReason.NO_HOST)
    allowed = key in {_normalise_host(h) for h in allow_hosts}
    if not allowed and key in METADATA_HOSTS:
        raise _refuse(f"{host} is a cloud metadata service", UnsafeReason.METADATA)
    port = parsed.port or _DEFAULT_PORTS[scheme]
    return _Target(url, scheme, host, port, parse_ip(host), allowed)


def _addresses(infos: AddrInfo) -> tuple[IPAddress, ...]:
    found: dict[IPAddress, None] = {}
    for family, *_rest, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = parse_ip(str(sockaddr[0]))
            if ip is not None:
                found[ip] = None
    return tuple(found)


def _finish(target: _Target, addresses: tuple[IPAddress, ...]) -> GuardedURL:
    """Check the resolved addresses: refuse when any one of them is unsafe."""
    if not addresses:
        raise _refuse(_no_public_address(target.host), UnsafeReason.UNRESOLVABLE)
    if not target.allow_listed:
        for ip in addresses:
            problem = address_problem(ip)
            if problem is not None:
                reason, label = problem
                # A name gets the same answer whether it does not resolve or resolves to an
                # internal address, so the guard is no oracle of internal DNS.
                why = _no_public_address(target.host)
                if target.literal is not None:
                    why = f"{target.host} is {label}"
                raise _refuse(why, reason)
    return GuardedURL(
        target.url, target.scheme, target.host, target.port, addresses, target.allow_listed
    )


def _no_public_address(host: str) -> str:
    return f"{host} does not resolve to a public address"


def _unresolvable(target: _Target, exc: Exception) -> UnsafeURLError:
    return _refuse(_no_public_address(target.host), UnsafeReason.UNRESOLVABLE)


def resolve(host: str, port: int) -> AddrInfo:
    """Resolve ``host`` for a TCP connection (``socket.getaddrinfo``); tests replace it."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def check_url(url: str, allow_hosts: Collection[str] = ()) -> GuardedURL:
    """Check a callback URL, resolving its host with the system resolver (blocking).

    Rules: the scheme is http or https; there is a host; it is not a cloud metadata name;
    and every address it resolves to is public unicast (see ``addresses.address_problem``).
    IP literals are checked without DNS. A host listed in ``allow_hosts`` (exact match,
    case-insensitive, ``[::1]`` written ``::1``) skips the address rules but must resolve.

    Args:
        url: the callback URL.
        allow_hosts: hosts exempt from the address rules (``MQ_CALLBACK_ALLOW_HOSTS``).

    Returns:
        The URL with its host, port and the addresses to connect to.

    Raises:
        UnsafeURLError: with ``reason`` and a message naming the rule that refused it.
    """
    target = _target(url, allow_hosts)
    if target.literal is not None:
        return _finish(target, (target.literal,))
    try:
        infos = resolve(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(target, exc) from exc
    return _finish(target, _addresses(infos))


async def check_url_async(url: str, allow_hosts: Collection[str] = ()) -> GuardedURL:
    """Like ``check_url``, resolving with the running event loop so the loop is not blocked.

    Raises:
        UnsafeURLError: as ``check_url``.
    """
    target = _target(url, allow_hosts)
    if target.literal is not None:
        return _finish(target, (target.literal,))
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(target, exc) from exc
    return _finish(target, _addresses(infos))
