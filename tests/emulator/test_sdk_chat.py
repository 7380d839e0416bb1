"""The official ``mistralai`` SDK (3.7) against the emulator: chat, stream, models, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from mistralai.client import Mistral, errors, models

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import API_KEY

MODEL = "mistral-small-latest"
USER = [models.UserMessage(content="Hello, world!")]


@pytest.fixture
def sdk(emulator: RunningEmulator) -> Iterator[Mistral]:
    with Mistral(api_key=API_KEY, server_url=emulator.base_url, timeout_ms=10_000) as client:
        yield client


def test_complete(sdk: Mistral) -> None:
    response = sdk.chat.complete(model=MODEL, messages=USER)

    assert response.choices[0].message is not None
    assert response.choices[0].message.content == "Echo: Hello, world!"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == 10


def test_stream(sdk: Mistral) -> None:
    text, usage, finish = "", None, None
    with sdk.chat.stream(model=MODEL, messages=USER) as events:
        for event in events:
            choice = event.data.choices[0]
            if isinstance(choice.delta.content, str):
                text += choice.delta.content
            usage = event.data.usage or usage
            finish = choice.finish_reason or finish

    assert text == "Echo: Hello, world!"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 6


def test_tool_calls_parse(sdk: Mistral) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = models.Tool(function=models.Function(name="get_weather", parameters=schema))

    response = sdk.chat.complete(
        model=MODEL,
        messages=[models.UserMessage(content="call get_weather city=Oslo")],
        tools=[tool],
    )

    message = response.choices[0].message
    assert message is not None and message.tool_calls
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str)
    assert json.loads(call.function.arguments) == {"city": "Oslo"}


def test_models_list(sdk: Mistral) -> None:
    listing = sdk.models.list()

    assert listing.data is not None
    assert MODEL in [m.id for m in listing.data if isinstance(m, models.BaseModelCard)]


def test_401_raises_sdk_error(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(api_keys=API_KEY)
    stranger = Mistral(api_key="wrong", server_url=emulator.base_url, timeout_ms=10_000)
    with stranger, pytest.raises(errors.SDKError) as caught:
        stranger.chat.complete(model=MODEL, messages=USER)

    assert caught.value.status_code == 401


def test_422_raises_http_validation_error(sdk: Mistral) -> None:
    with pytest.raises(errors.HTTPValidationError) as caught:
        sdk.chat.complete(
            model=MODEL,
            messages=USER,
            max_tokens=-1,
        )

    assert caught.value.data.detail
    assert caught.value.data.detail[0].loc == ["body", "max_tokens"]


def test_429_raises_sdk_error_with_headers(sdk: Mistral) -> None:
    with pytest.raises(errors.SDKError) as caught:
        sdk.chat.complete(
            model=MODEL,
            messages=USER,
            http_headers={"x-emulator-fault": "429:retry_after=3"},
        )

    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "3"
    assert "x-ratelimit-limit-req-minute" in caught.value.headers
    assert json.loads(caught.value.body)["code"] == "1300"


def test_marker_drives_sdk_calls(sdk: Mistral) -> None:
    messages = [models.UserMessage(content="sdk [[fault:503]]")]

    with pytest.raises(errors.SDKError) as caught:
        sdk.chat.complete(model=MODEL, messages=messages)
    response = sdk.chat.complete(model=MODEL, messages=messages)

    assert caught.value.status_code == 503
    assert response.choices[0].message is not None
    assert response.choices[0].message.content == "Echo: sdk"
