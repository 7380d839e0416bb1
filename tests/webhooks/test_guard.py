"""The callback URL guard: rules, literals without DNS, allow-list, and the async variant.

Names other than ``localhost`` are resolved by a stand-in for ``guard.resolve`` so no test
sends a DNS query anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

import pytest

from mistral_queue.webhooks import guard
from mistral_queue.webhooks.errors import UnsafeReason, UnsafeURLError
from mistral_queue.webhooks.guard import check_url, check_url_async

R = UnsafeReason


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[tuple[object, ...]]]:
    """A ``guard.resolve`` stand-in answering from ``table``; other names do not resolve."""

    def resolve(host: str, port: int) -> list[tuple[object, ...]]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return resolve


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only localhost and the test names resolve; anything else fails like NXDOMAIN."""
    table = {
        "localhost": ["127.0.0.1", "::1"],
        "localhost.": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "10.0.0.1"],
        "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
        "rebind.test": ["169.254.169.254"],
        "xn--bcher-kva.test": ["93.184.216.34"],
    }
    monkeypatch.setattr(guard, "resolve", fake_resolver(table))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", R.LOOPBACK),
        ("http://169.254.169.254/latest/meta-data", R.METADATA),
        ("http://169.254.1.1/", R.LINK_LOCAL),
        ("http://10.0.0.1/", R.PRIVATE),
        ("http://172.16.5.4/", R.PRIVATE),
        ("http://192.168.1.1/", R.PRIVATE),
        ("http://[::1]/", R.LOOPBACK),
        ("http://[::ffff:127.0.0.1]/", R.LOOPBACK),
        ("http://[::ffff:10.0.0.1]/", R.PRIVATE),
        ("http://100.64.0.1/", R.SHARED),
        ("http://100.100.100.200/", R.METADATA),
        ("http://localhost:8000/", R.LOOPBACK),
        ("http://LOCALHOST./", R.LOOPBACK),
        ("http://metadata.google.internal./", R.METADATA),
        ("http://0.0.0.0/", R.UNSPECIFIED),
        ("http://[::]/", R.UNSPECIFIED),
        ("http://224.0.0.1/", R.MULTICAST),
        ("http://[ff02::1]/", R.MULTICAST),
        ("http://[fe80::1]/", R.LINK_LOCAL),
        ("http://[fc00::1]/", R.PRIVATE),
        ("http://[fec0::1]/", R.PRIVATE),
        ("http://[fd00:ec2::254]/", R.METADATA),
        ("http://[64:ff9b::a9fe:a9fe]/", R.METADATA),
        ("http://[64:ff9b::7f00:1]/", R.LOOPBACK),
        ("http://[2002:a9fe:a9fe::1]/", R.METADATA),
        ("http://[2002:0a00:0001::1]/", R.PRIVATE),
        ("http://240.0.0.1/", R.RESERVED),
        ("http://192.0.2.1/", R.NOT_GLOBAL),
        ("http://[2001:db8::1]/", R.NOT_GLOBAL),
        ("http://metadata.google.internal/computeMetadata/v1/", R.METADATA),
        ("http://mixed.test/", R.PRIVATE),
        ("http://rebind.test/", R.METADATA),
        ("http://nowhere.test/", R.UNRESOLVABLE),
        ("ftp://93.184.216.34/", R.SCHEME),
        ("file:///etc/passwd", R.SCHEME),
        ("javascript:alert(1)", R.SCHEME),
        ("not a url", R.SCHEME),
        ("http:///path", R.NO_HOST),
        ("http://[::1/", R.MALFORMED),
    ],
)
def test_refused(url: str, reason: UnsafeReason) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, allow_hosts=())
    assert caught.value.reason is reason
    assert str(caught.value).startswith("callback URL refused: ")


@pytest.mark.parametrize("host", ["mixed.test", "rebind.test", "nxdomain.test"])
def test_a_refused_name_discloses_no_address(host: str) -> None:
    # An internal address and no address at all read the same: the guard is no DNS oracle.
    with pytest.raises(UnsafeURLError) as caught:
        check_url(f"https://{host}/hook?token=s3cret")
    message = str(caught.value)
    assert message == f"callback URL refused: {host} does not resolve to a public address"
    for address in ("10.0.0.1", "169.254", "93.184"):
        assert address not in message


def test_message_leaves_the_url_out() -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url("http://10.0.0.1/hook?token=s3cret")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "port", "address"),
    [
        ("https://93.184.216.34/hook", 443, "93.184.216.34"),
        ("http://93.184.216.34:8080/", 8080, "93.184.216.34"),
        ("https://[2606:4700:4700::1111]/x", 443, "2606:4700:4700::1111"),
        ("http://[::ffff:93.184.216.34]/", 80, "::ffff:93.184.216.34"),
    ],
)
def test_public_literal_accepted_without_dns(
    monkeypatch: pytest.MonkeyPatch, url: str, port: int, address: str
) -> None:
    monkeypatch.setattr(guard, "resolve", fake_resolver({}))
    checked = check_url(url)
    assert checked.port == port
    assert checked.addresses == (ipaddress.ip_address(address),)
    assert checked.url == url
    assert not checked.allow_listed


def test_public_name_keeps_every_checked_address() -> None:
    checked = check_url("https://Public.TEST/hook")
    assert checked.host == "public.test"
    assert [str(a) for a in checked.addresses] == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]


def test_idn_host_is_checked_in_its_ascii_form() -> None:
    assert check_url("https://bücher.test/").host == "xn--bcher-kva.test"


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://localhost:8000/hook", ["localhost"]),
        ("http://LocalHost:8000/hook", ["LOCALHOST"]),
        ("http://127.0.0.1:9000/", ["127.0.0.1"]),
        ("http://[::1]:9000/", ["::1"]),
        ("http://[::1]:9000/", ["[::1]"]),
        ("http://169.254.169.254/", ["169.254.169.254"]),
        ("http://localhost./", ["localhost"]),
        ("http://localhost/", ["LocalHost."]),
    ],
)
def test_allow_list_exempts_exact_hosts(url: str, allow: list[str]) -> None:
    checked = check_url(url, allow_hosts=allow)
    assert checked.allow_listed
    assert checked.addresses


def test_allow_list_is_exact_not_suffix() -> None:
    with pytest.raises(UnsafeURLError):
        check_url("http://127.0.0.1/", allow_hosts=["127.0.0.10", "0.0.1", "localhost"])


def test_allow_listed_name_must_still_resolve() -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url("http://nowhere.test/", allow_hosts=["nowhere.test"])
    assert caught.value.reason is R.UNRESOLVABLE


def test_localhost_resolves_through_the_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real getaddrinfo: localhost comes from /etc/hosts, no DNS
    checked = check_url("http://localhost:1/", ["localhost"])
    assert all(a.is_loopback for a in checked.addresses)
    with pytest.raises(UnsafeURLError) as caught:
        check_url("http://localhost:1/")
    assert caught.value.reason is R.LOOPBACK
    # A shorthand IPv4 form is not a literal to ipaddress, but resolves to what it means.
    with pytest.raises(UnsafeURLError) as caught:
        check_url("http://127.1:8080/")
    assert caught.value.reason is R.LOOPBACK


def test_async_check_matches_sync() -> None:
    async def run() -> None:
        with pytest.raises(UnsafeURLError) as caught:
            await check_url_async("http://localhost:8000/")
        assert caught.value.reason is R.LOOPBACK
        checked = await check_url_async("http://localhost:8000/", ["localhost"])
        assert all(a.is_loopback for a in checked.addresses)
        literal = await check_url_async("https://93.184.216.34/")
        assert literal.addresses == (ipaddress.ip_address("93.184.216.34"),)
        with pytest.raises(UnsafeURLError) as caught:
            await check_url_async("http://[::ffff:127.0.0.1]/")
        assert caught.value.reason is R.LOOPBACK

    asyncio.run(asyncio.wait_for(run(), timeout=30))
