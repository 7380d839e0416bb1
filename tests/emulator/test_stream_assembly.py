"""The service's stream assemblers against the emulator's streams, over real HTTP.

Each case is a wire form the emulator sends on purpose (mistral-api.md §2, SDK 3.7 models):
content chunk lists with thinking (``magistral-*``), tool calls split over deltas, a stream
that ends in ``finish_reason: "error"``, and conversation streams whose tool executions
repeat their arguments. The assembled answer must equal the non-streamed one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mistral_queue.config import Settings
from mistral_queue.dev.emulator.server import RunningEmulator
from mistral_queue.mistral.client import MistralClient, SSEEvent
from mistral_queue.mistral.errors import ServerError
from mistral_queue.tasks.agent.stream import ConversationAssembler, assemble_conversation
from mistral_queue.tasks.chat_stream import Coalescer, assemble
from tests.emulator.helpers import API_KEY, WEATHER, chat_body, create_agent, http_client


@pytest.fixture
def upstream(emulator: RunningEmulator) -> Iterator[MistralClient]:
    # The documented-elsewhere ``…/v1`` form of the base URL, which must not give /v1/v1.
    settings = Settings(MISTRAL_BASE_URL=emulator.base_url + "/v1/", MISTRAL_API_KEY=API_KEY)
    with MistralClient(settings) as client:
        yield client


def _collect() -> tuple[list[tuple[int, str]], Coalescer]:
    texts: list[tuple[int, str]] = []
    return texts, Coalescer(lambda i, t: texts.append((i, t)), interval=0.0, max_chars=1)


def test_trailing_v1_in_base_url_is_dropped() -> None:
    for url in (
        "https://api.mistral.ai/v1",
        "https://api.mistral.ai/v1/",
        "https://api.mistral.ai/",
    ):
        assert Settings(MISTRAL_BASE_URL=url).mistral_base_url == "https://api.mistral.ai"


def test_reasoning_stream_keeps_thinking_and_text(upstream: MistralClient) -> None:
    body = chat_body(model="magistral-small-latest")
    plain = upstream.chat_complete(body).json
    texts, coalescer = _collect()

    whole = assemble(upstream.stream("/v1/chat/completions", {**body, "stream": True}), coalescer)

    content = whole["choices"][0]["message"]["content"]
    assert content == plain["choices"][0]["message"]["content"]
    assert [chunk["type"] for chunk in content] == ["thinking", "text"]
    assert content[1]["text"] == "Echo: Hello, world!"
    assert content[0]["thinking"][0]["text"].startswith("The user asked")
    assert "".join(text for _, text in texts) == "Echo: Hello, world!"
    assert whole["usage"] == plain["usage"]


def test_split_tool_calls_are_merged_by_index(upstream: MistralClient) -> None:
    body = chat_body("call get_weather city=Oslo", tools=[WEATHER])
    plain = upstream.chat_complete(body).json["choices"][0]["message"]["tool_calls"]
    _, coalescer = _collect()

    whole = assemble(upstream.stream("/v1/chat/completions", {**body, "stream": True}), coalescer)

    calls = whole["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["index"], c["function"]) for c in calls] == [
        (c["id"], c["index"], c["function"]) for c in plain
    ]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"


def test_error_finish_fails_the_attempt(upstream: MistralClient) -> None:
    body = chat_body("a long enough answer to cut [[fault:stream_error]]", stream=True)
    _, coalescer = _collect()

    with pytest.raises(ServerError, match="finish_reason"):
        assemble(upstream.stream("/v1/chat/completions", body), coalescer)
    assert ServerError.retryable


def test_conversation_stream_equals_the_stored_entries(
    emulator: RunningEmulator, upstream: MistralClient
) -> None:
    with http_client(emulator) as http:
        agent = create_agent(http, tools=[{"type": "web_search"}, WEATHER])
    body = {"agent_id": agent["id"], "inputs": "please web_search cheese", "stream": True}
    _, coalescer = _collect()

    answer = assemble_conversation(upstream.stream("/v1/conversations", body), coalescer)

    history = upstream.get(f"/v1/conversations/{answer['conversation_id']}/history").json
    stored = [e for e in history["entries"] if e["type"] != "message.input"]
    execution = answer["outputs"][0]
    assert execution["type"] == "tool.execution"
    assert execution["arguments"] == stored[0]["arguments"]
    assert execution["created_at"] and execution["completed_at"]
    keys = ("id", "type", "name", "arguments", "info")
    assert [{k: e.get(k) for k in keys} for e in answer["outputs"]] == [
        {k: e.get(k) for k in keys} for e in stored
    ]


def _event(kind: str, **data: Any) -> SSEEvent:
    return SSEEvent(kind, {"type": kind, **data})


def test_function_call_keeps_confirmation_status_and_times() -> None:
    assembler = ConversationAssembler()
    pieces = ['{"city": ', '"Oslo"}']
    for n, piece in enumerate(pieces):
        assembler.add(
            _event(
                "function.call.delta",
                id="fc_1",
                name="get_weather",
                tool_call_id="K3zW1x9Qa",
                arguments=piece,
                confirmation_status="pending",
                created_at=f"2026-01-01T00:00:0{n}Z",
            ),
            lambda i, t: None,
        )

    (entry,) = assembler.answer()["outputs"]
    assert entry["arguments"] == '{"city": "Oslo"}'
    assert entry["confirmation_status"] == "pending"
    assert entry["created_at"] == "2026-01-01T00:00:00Z"


def test_thinking_then_text_gives_one_chunk_each() -> None:
    assembler = ConversationAssembler()
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
    for content in (thinking, "Hel", "lo"):
        assembler.add(_event("message.output.delta", id="m", content=content), lambda i, t: None)

    (entry,) = assembler.answer()["outputs"]
    assert entry["content"] == [thinking, {"type": "text", "text": "Hello"}]
