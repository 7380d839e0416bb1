"""The fault step grammar (pure logic)."""

from __future__ import annotations

import pytest

from mistral_queue.dev.emulator.errors import FaultSyntaxError
from mistral_queue.dev.emulator.faults import (
    FaultStep,
    find_marker,
    parse_header,
    parse_script,
    parse_step,
    strip_markers,
)


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("ok", FaultStep()),
        ("503", FaultStep(status=503)),
        ("429:1", FaultStep(status=429, retry_after=1.0)),
        ("429:retry_after=2.5", FaultStep(status=429, retry_after=2.5)),
        ("429:capacity:3", FaultStep(status=429, retry_after=3.0, capacity=True)),
        ("drop", FaultStep(drop=True)),
        ("cut", FaultStep(cut=True)),
        ("stream_error", FaultStep(stream_error=True)),
        ("latency=5+stream_error", FaultStep(stream_error=True, latency_ms=5.0)),
        ("latency=300", FaultStep(latency_ms=300.0)),
        ("latency=50+500", FaultStep(status=500, latency_ms=50.0)),
    ],
)
def test_parse_step(text: str, step: FaultStep) -> None:
    assert parse_step(text) == step


@pytest.mark.parametrize("text", ["boom", "200", "503+drop", "latency=x", "429:soon"])
def test_bad_steps_raise(text: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_step(text)


def test_header_accepts_commas() -> None:
    assert parse_header("latency=10,503") == FaultStep(status=503, latency_ms=10.0)


def test_script_and_marker() -> None:
    text = "What is up? [[fault:503,429:1,ok]]"

    marker = find_marker(text)

    assert marker == "503,429:1,ok"
    assert [s.describe() for s in parse_script(marker)] == ["503", "429:retry_after=1", "ok"]
    assert strip_markers(text) == "What is up?"
    assert find_marker("no marker") is None


def test_describe_round_trips() -> None:
    for text in ["latency=20+429:retry_after=2:capacity", "drop", "cut", "ok", "502"]:
        assert parse_step(parse_step(text).describe()) == parse_step(text)
