"""Address pinning: connections go to the addresses the guard checked, never to a new lookup.

``callback.test`` is made to resolve to 127.0.0.1 for the guard only; the system resolver is
made to refuse it, so a delivery that succeeds proves the connection used the pinned address
(and no DNS query leaves the machine even if pinning broke).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mistral_queue.dev.receiver import RunningReceiver, running_receiver
from mistral_queue.webhooks import guard
from mistral_queue.webhooks.delivery import deliver
from mistral_queue.webhooks.guard import check_url
from mistral_queue.webhooks.pinned_transport import make_client, pinned
from tests.webhooks.conftest import events

trustme = pytest.importorskip("trustme")

NAME = "callback.test"
BODY = json.dumps({"type": "job.failed", "data": {"id": "job_x", "status": "failed"}}).encode()


@pytest.fixture(autouse=True)
def callback_test_name(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def system(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.rstrip(".").lower() == NAME:
            raise socket.gaierror(socket.EAI_NONAME, "not for the system resolver")
        return real(host, *args, **kwargs)

    def for_guard(host: str, port: int) -> Any:
        if host == NAME:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, type=socket.SOCK_STREAM)

    monkeypatch.setattr(socket, "getaddrinfo", system)
    monkeypatch.setattr(guard, "resolve", for_guard)


def port_of(receiver: RunningReceiver) -> int:
    return int(receiver.url.rsplit(":", 1)[1])


def test_name_only_the_guard_can_resolve_is_reached_through_the_pin(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    url = f"http://{NAME}:{port_of(receiver)}/hook"
    result = deliver(
        url, "msg_pin", BODY, secrets=[secret], timeout=10, allow_hosts=[NAME], client=client
    )
    assert result.ok, result.error
    [event] = events(receiver)["events"]
    assert event["headers"]["host"] == f"{NAME}:{port_of(receiver)}"


def test_unpinned_host_is_refused_by_the_client(
    receiver: RunningReceiver, client: httpx.Client
) -> None:
    with pytest.raises(httpx.ConnectError, match="not checked by the guard"):
        client.post(f"{receiver.url}/hook", content=b"{}")
    assert events(receiver)["events"] == []


def test_pins_are_per_host(receiver: RunningReceiver, client: httpx.Client) -> None:
    other = check_url(f"http://{NAME}:{port_of(receiver)}/", [NAME])
    with pinned(other), pytest.raises(httpx.ConnectError, match="not checked"):
        client.post(f"{receiver.url}/hook", content=b"{}")


def test_pin_ends_with_the_block(receiver: RunningReceiver) -> None:
    checked = check_url(f"{receiver.url}/", ["127.0.0.1"])
    # A new client per request, so each one has to open a new connection.
    with pinned(checked), make_client() as inside:
        assert inside.get(f"{receiver.url}/").status_code == 200
    with make_client() as after, pytest.raises(httpx.ConnectError):
        after.get(f"{receiver.url}/")


def test_ipv6_loopback_receiver(secret: str, client: httpx.Client) -> None:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_receiver([secret], host="::1"))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        assert server.url.startswith("http://[::1]:")
        result = deliver(
            f"{server.url}/h",
            "msg_v6",
            BODY,
            secrets=[secret],
            timeout=10,
            allow_hosts=["::1"],
            client=client,
        )
        assert result.ok, result.error


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_receiver(
    ca: Any, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningReceiver]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names only ``callback.test``."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert(NAME)
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    with running_receiver(
        [secret], certfile=str(folder / "cert.pem"), keyfile=str(folder / "key.pem")
    ) as server:
        yield server


@pytest.fixture
def tls_client(ca: Any) -> Iterator[httpx.Client]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with make_client(verify=context) as http:
        yield http


def test_https_verifies_the_name_while_connecting_to_the_pinned_address(
    tls_receiver: RunningReceiver, tls_client: httpx.Client, secret: str
) -> None:
    url = f"https://{NAME}:{port_of(tls_receiver)}/hook"
    result = deliver(
        url, "msg_tls", BODY, secrets=[secret], timeout=10, allow_hosts=[NAME], client=tls_client
    )
    assert result.ok, result.error


def test_https_certificate_must_match_the_url_host(
    tls_receiver: RunningReceiver, tls_client: httpx.Client, secret: str
) -> None:
    # Same server and address, but the URL names 127.0.0.1, which the certificate does not.
    url = f"https://127.0.0.1:{port_of(tls_receiver)}/hook"
    result = deliver(
        url,
        "msg_tls",
        BODY,
        secrets=[secret],
        timeout=10,
        allow_hosts=["127.0.0.1"],
        client=tls_client,
    )
    assert not result.ok
    assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error


def test_https_untrusted_ca_fails(tls_receiver: RunningReceiver, secret: str) -> None:
    with make_client() as default_trust:
        url = f"https://{NAME}:{port_of(tls_receiver)}/hook"
        result = deliver(
            url,
            "msg_tls",
            BODY,
            secrets=[secret],
            timeout=10,
            allow_hosts=[NAME],
            client=default_trust,
        )
    assert (
        not result.ok and result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    )
