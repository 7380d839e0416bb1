"""Which IP addresses a callback may connect to: public unicast only.

``ipaddress.is_global`` alone is not enough (webhooks.md §4): it is True for the NAT64 and
6to4 forms of 169.254.169.254 and for deprecated site-local ``fec0::/10``. So IPv4 addresses
embedded in IPv6 (mapped, 6to4, NAT64) are unwrapped and checked as IPv4, and explicit rules
run before ``is_global``. The blocked set follows Svix's ``is_allowed`` (webhooks.md §4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from mistral_queue.webhooks.errors import UnsafeReason

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata endpoints: AWS/GCP/Azure/OCI IMDS, AWS ECS task metadata, AWS IPv6 IMDS,
#: Alibaba, and Azure's wireserver (a public address that only means something inside Azure).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200",
              "168.63.129.16", "192.0.0.192")
)  # fmt: skip

_PRIVATE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
#: RFC 6598 shared address space (carrier-grade NAT); neither private nor global in Python.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
#: RFC 6052 well-known NAT64 prefix and RFC 8215 local-use prefix; IPv4 in the low 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _in(networks: tuple[IPNetwork, ...]) -> Callable[[IPAddress], bool]:
    return lambda ip: any(ip.version == n.version and ip in n for n in networks)


#: Checked in order; the first match names the reason.
_RULES: tuple[tuple[UnsafeReason, str, Callable[[IPAddress], bool]], ...] = (
    (UnsafeReason.UNSPECIFIED, "the unspecified address", lambda ip: ip.is_unspecified),
    (UnsafeReason.LOOPBACK, "a loopback address", lambda ip: ip.is_loopback),
    (UnsafeReason.LINK_LOCAL, "a link-local address", lambda ip: ip.is_link_local),
    (UnsafeReason.MULTICAST, "a multicast address", lambda ip: ip.is_multicast),
    (UnsafeReason.PRIVATE, "a private address", _in(_PRIVATE)),
    (UnsafeReason.SHARED, "a shared (CGNAT 100.64.0.0/10) address", _in((_SHARED,))),
    (UnsafeReason.RESERVED, "a reserved address", lambda ip: ip.is_reserved),
    (UnsafeReason.NOT_GLOBAL, "not a public address", lambda ip: not ip.is_global),
)


def parse_ip(text: str) -> IPAddress | None:
    """The address written in ``text`` (no brackets), or None when it is not an IP literal."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 address stands for, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> tuple[UnsafeReason, str] | None:
    """Why a callback must not connect to ``ip``, or None when it is public unicast.

    Returns:
        ``(reason, label)`` where ``label`` reads after "is", e.g. "a loopback address".
    """
    if ip in METADATA_ADDRESSES:
        return UnsafeReason.METADATA, "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(inner)
            if problem is None:
                return None
            return problem[0], f"{problem[1]} ({inner}, embedded in IPv6)"
    for reason, label, test in _RULES:
        if test(ip):
            return reason, label
    return None
