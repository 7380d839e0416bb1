"""Fixtures: the emulator served over real HTTP on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from mistral_queue.dev.emulator.server import RunningEmulator, build_config, running
from tests.emulator.helpers import http_client


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Start an emulator with ``build_config(**options)``; all are stopped after the test."""
    with ExitStack() as stack:

        def start(**options: Any) -> RunningEmulator:
            return stack.enter_context(running(build_config(**options)))

        yield start


@pytest.fixture
def emulator(start_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    """An emulator with the default configuration."""
    return start_emulator()


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """An authenticated httpx client for ``emulator``."""
    with http_client(emulator) as http:
        yield http
