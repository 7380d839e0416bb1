"""``build_config`` and ``running``: how the CLI and tests configure and start the emulator."""

from __future__ import annotations

import httpx
import pytest

from mistral_queue.dev.emulator import build_config, running
from mistral_queue.dev.emulator.errors import EmulatorError


def test_build_config_parses_cli_text() -> None:
    config = build_config(
        latency_ms=25,
        api_keys="a, b",
        error_statuses="500,503",
        models="m1,m2",
        rps_limit=None,
        script="503,drop",
    )

    assert config.latency_ms == 25
    assert config.api_keys == frozenset({"a", "b"})
    assert config.error_statuses == [500, 503]
    assert config.models == ("m1", "m2")
    assert config.rps_limit is None
    assert config.script == ["503", "drop"]


def test_build_config_names_bad_options() -> None:
    with pytest.raises(EmulatorError, match="error_rate"):
        build_config(error_rate=3)


def test_bad_fault_steps_are_refused() -> None:
    with pytest.raises(EmulatorError, match="script"):
        build_config(script="503,nope")
    with pytest.raises(EmulatorError, match="fail_with"):
        build_config(fail_with="200")


def test_running_serves_on_a_free_loopback_port() -> None:
    with running() as emulator:
        assert emulator.base_url.startswith("http://127.0.0.1:")
        health = httpx.get(f"{emulator.base_url}/_emulator/health", timeout=10.0)

    assert health.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emulator.base_url}/_emulator/health", timeout=10.0)
