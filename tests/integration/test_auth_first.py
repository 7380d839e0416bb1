"""Auth first: a missing or wrong key gets 401 before the API waits for any body byte."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import Api

pytestmark = pytest.mark.timeout(60)


def _send_headers_only(url: str, authorization: str | None, wait: float) -> bytes:
    """POST /v1/jobs announcing a 1 MB body that never comes; returns what came back in time."""
    parts = urlsplit(url)
    lines = [
        "POST /v1/jobs HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: application/json",
        "Content-Length: 1000000",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received and b"}}" in received:
                break
        return received


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic a2V5LWFjbWU="])
def test_a_bad_key_is_refused_without_waiting_for_the_body(
    api: Api, authorization: str | None
) -> None:
    started = time.monotonic()
    answer = _send_headers_only(api.url, authorization, wait=10)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"type":"unauthorized"' in answer
    assert time.monotonic() - started < 5


def test_a_good_key_still_waits_for_the_body(api: Api) -> None:
    # The contrast: with a valid key the API waits for the announced body as before.
    assert _send_headers_only(api.url, f"Bearer {api.key}", wait=1.5) == b""


def test_public_routes_and_good_keys_are_unaffected(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").status_code == 200
    assert httpx.get(f"{api.url}/openapi.json").status_code == 200
    listed = httpx.get(f"{api.url}/v1/jobs", headers=api.headers())
    assert listed.status_code == 200
    refused = httpx.get(f"{api.url}/v1/jobs/job_x")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
