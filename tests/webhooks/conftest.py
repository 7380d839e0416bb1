"""Fixtures for the webhooks tests: fresh secrets and a real receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import secrets as random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mistral_queue.dev.receiver import RunningReceiver, running_receiver
from mistral_queue.webhooks.pinned_transport import make_client


def new_secret() -> str:
    """A fresh ``whsec_`` secret with 32 random bytes."""
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()


@pytest.fixture(scope="session")
def secret() -> str:
    return new_secret()


@pytest.fixture(scope="module")
def _receiver_server(secret: str) -> Iterator[RunningReceiver]:
    with running_receiver([secret]) as server:
        yield server


@pytest.fixture
def receiver(_receiver_server: RunningReceiver) -> RunningReceiver:
    """The module's receiver, with its history and plan reset for this test."""
    httpx.post(
        f"{_receiver_server.url}/_receiver/reset", timeout=5, trust_env=False
    ).raise_for_status()
    return _receiver_server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client() as http:
        yield http


def plan(receiver: RunningReceiver, **body: object) -> None:
    """Set the receiver's answer plan (see ``receiver`` module docs)."""
    httpx.post(
        f"{receiver.url}/_receiver/plan", json=body, timeout=5, trust_env=False
    ).raise_for_status()


def events(receiver: RunningReceiver) -> dict[str, Any]:
    """The receiver's record of what it got (see ``receiver`` module docs)."""
    response = httpx.get(f"{receiver.url}/_receiver/events", timeout=5, trust_env=False)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
