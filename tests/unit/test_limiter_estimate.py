"""Token estimates and post-429 pauses of the rate limiter (pure logic)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import orjson
import pytest

from mistral_queue.mistral.errors import RateLimited
from mistral_queue.mistral.limiter import (
    CHARS_PER_TOKEN,
    DEFAULT_COMPLETION_TOKENS,
    DEFAULT_PAUSE,
    estimate_tokens,
    pause_for,
)


def prompt_tokens(body: Mapping[str, object]) -> int:
    return math.ceil(len(orjson.dumps(body)) / CHARS_PER_TOKEN)


def test_chat_body_prompt_plus_max_tokens() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 4000}], "max_tokens": 50}
    assert estimate_tokens(body) == prompt_tokens(body) + 50
    assert 1000 < prompt_tokens(body) < 1020


def test_defaults_and_choices() -> None:
    body: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert estimate_tokens(body) == prompt_tokens(body) + DEFAULT_COMPLETION_TOKENS
    body.update(max_tokens=100, n=3)
    assert estimate_tokens(body) == prompt_tokens(body) + 300


def test_conversation_completion_args() -> None:
    body = {"agent_id": "ag_1", "inputs": "hello", "completion_args": {"max_tokens": 20}}
    assert estimate_tokens(body) == prompt_tokens(body) + 20


@pytest.mark.parametrize("bad", [None, -5, "100"])
def test_bad_max_tokens_use_the_default(bad: object) -> None:
    body = {"model": "m", "messages": [], "max_tokens": bad}
    assert estimate_tokens(body) == prompt_tokens(body) + DEFAULT_COMPLETION_TOKENS


def test_pause_for_prefers_retry_after_then_reset_header() -> None:
    assert pause_for(RateLimited("r", status_code=429, retry_after=7.5)) == 7.5
    assert pause_for(RateLimited("r", status_code=429, retry_after=0.0)) == 0.0
    reset = RateLimited("r", status_code=429, rate_limit={"ratelimitbysize-reset": 12})
    assert pause_for(reset) == 12.0
    assert pause_for(RateLimited("r", status_code=429)) == DEFAULT_PAUSE
