"""Chat completions and models over plain HTTP: shapes, determinism, validation."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.emulator.helpers import chat_body, sse_data

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def test_completion_has_mistral_shape_and_honest_usage(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat_body("Hello, world!"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert re.fullmatch(r"cmpl-[0-9a-f]{32}", body["id"])
    assert body["object"] == "chat.completion"
    assert body["model"] == "mistral-small-latest"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Echo: Hello, world!",
        "tool_calls": None,
        "prefix": False,
    }
    # "Hello , world !" is 4 tokens; "Echo : Hello , world !" is 6.
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def test_same_request_gives_same_content(client: httpx.Client) -> None:
    first = client.post("/v1/chat/completions", json=chat_body("same")).json()
    second = client.post("/v1/chat/completions", json=chat_body("same")).json()

    assert first["choices"] == second["choices"]
    assert first["id"] != second["id"]


def test_max_tokens_truncates_with_length(client: httpx.Client) -> None:
    body = client.post("/v1/chat/completions", json=chat_body("one two three", max_tokens=3))

    choice = body.json()["choices"][0]
    assert choice["message"]["content"] == "Echo: one"
    assert choice["finish_reason"] == "length"
    assert body.json()["usage"]["completion_tokens"] == 3


def test_stop_n_and_json_mode(client: httpx.Client) -> None:
    stopped = client.post("/v1/chat/completions", json=chat_body("a b c", stop=["b"])).json()
    many = client.post("/v1/chat/completions", json=chat_body("x", n=2)).json()
    fmt = {"type": "json_object"}
    as_json = client.post("/v1/chat/completions", json=chat_body("x", response_format=fmt))

    assert stopped["choices"][0]["message"]["content"] == "Echo: a "
    assert [c["index"] for c in many["choices"]] == [0, 1]
    assert many["usage"]["completion_tokens"] == 2 * 3
    assert json.loads(as_json.json()["choices"][0]["message"]["content"]) == {"answer": "Echo: x"}


def test_tool_call_when_user_names_the_tool(client: httpx.Client) -> None:
    body = chat_body("Please call get_weather for city=Paris days: 3", tools=[WEATHER_TOOL])

    reply = client.post("/v1/chat/completions", json=body).json()

    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call["id"])
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "days": 3}


def test_tool_result_turn_answers_with_the_result(client: httpx.Client) -> None:
    first = client.post(
        "/v1/chat/completions", json=chat_body("call get_weather", tools=[WEATHER_TOOL])
    ).json()
    assistant = first["choices"][0]["message"]
    call = assistant["tool_calls"][0]
    messages = [
        {"role": "user", "content": "call get_weather"},
        assistant,
        {"role": "tool", "tool_call_id": call["id"], "name": "get_weather", "content": "18C"},
    ]

    second = client.post(
        "/v1/chat/completions", json=chat_body(messages=messages, tools=[WEATHER_TOOL])
    )

    assert second.status_code == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == (
        "The get_weather tool returned: 18C"
    )


def test_tool_choice_any_forces_a_call_and_none_prevents_it(client: httpx.Client) -> None:
    forced = chat_body("hi", tools=[WEATHER_TOOL], tool_choice="any")
    blocked = chat_body("call get_weather", tools=[WEATHER_TOOL], tool_choice="none")

    assert client.post("/v1/chat/completions", json=forced).json()["choices"][0]["message"][
        "tool_calls"
    ]
    assert not client.post("/v1/chat/completions", json=blocked).json()["choices"][0]["message"][
        "tool_calls"
    ]


def test_stream_frames(client: httpx.Client) -> None:
    plain = client.post("/v1/chat/completions", json=chat_body("Hello, world!")).json()

    response = client.post("/v1/chat/completions", json=chat_body("Hello, world!", stream=True))

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "text/event-stream"
    frames = sse_data(response)
    assert frames[-1] == "[DONE]"
    chunks: list[dict[str, Any]] = [json.loads(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == plain["usage"]
    assert all("usage" not in c for c in chunks[:-1])


def test_stream_tool_call(client: httpx.Client) -> None:
    body = chat_body("call get_weather", tools=[WEATHER_TOOL], stream=True)

    chunks = [json.loads(f) for f in sse_data(client.post("/v1/chat/completions", json=body))[:-1]]

    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["index"] for c in calls] == [0, 0]
    assert calls[0]["function"]["name"] == "get_weather" and "id" not in calls[1]
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert set(json.loads(arguments)) == {"city", "days"}
    assert calls[0]["function"]["arguments"] and calls[1]["function"]["arguments"]


def test_shape_errors_are_422_with_fastapi_detail(client: httpx.Client) -> None:
    missing = client.post("/v1/chat/completions", json={"messages": []})
    extra = client.post("/v1/chat/completions", json=chat_body(store=True))
    bad_role = client.post(
        "/v1/chat/completions",
        json={"model": "mistral-small-latest", "messages": [{"role": "robot", "content": "x"}]},
    )

    assert missing.status_code == 422
    assert {"type": "missing", "loc": ["body", "model"]}.items() <= missing.json()["detail"][
        0
    ].items()
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["type"] == "extra_forbidden"
    assert extra.json()["detail"][0]["loc"] == ["body", "store"]
    assert bad_role.status_code == 422


def test_semantic_errors_are_400_with_mistral_body(client: httpx.Client) -> None:
    unknown = client.post("/v1/chat/completions", json=chat_body(model="gpt-4"))
    embed = client.post("/v1/chat/completions", json=chat_body(model="mistral-embed"))
    ends_with_assistant = client.post(
        "/v1/chat/completions",
        json=chat_body(messages=[{"role": "assistant", "content": "hi"}]),
    )
    bad_id = client.post(
        "/v1/chat/completions",
        json=chat_body(
            messages=[
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "r"},
            ]
        ),
    )

    assert unknown.status_code == 400
    assert unknown.json() == {
        "object": "error",
        "message": "Invalid model: gpt-4",
        "type": "invalid_model",
        "param": None,
        "code": "1500",
    }
    assert embed.json()["code"] == "1500"
    assert ends_with_assistant.status_code == 400
    assert ends_with_assistant.json()["code"] == "3230"
    assert bad_id.status_code == 400
    assert bad_id.json()["type"] == "invalid_function_call"


def test_tool_protocol_errors(client: httpx.Client) -> None:
    call = {"id": "D681PevKs", "function": {"name": "f", "arguments": "{}"}}
    user_after_tool = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "D681PevKs", "content": "r"},
        {"role": "user", "content": "y"},
    ]
    missing_result = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call, {**call, "id": "Abc123xyz"}]},
        {"role": "tool", "tool_call_id": "D681PevKs", "content": "r"},
    ]

    first = client.post("/v1/chat/completions", json=chat_body(messages=user_after_tool))
    second = client.post("/v1/chat/completions", json=chat_body(messages=missing_result))

    assert first.status_code == 400
    assert first.json()["type"] == "invalid_request_message_order"
    assert second.status_code == 400
    assert "same number" in second.json()["message"]


def test_models_list_and_retrieve(client: httpx.Client) -> None:
    listing = client.get("/v1/models").json()
    card = client.get("/v1/models/mistral-large-latest")
    missing = client.get("/v1/models/nope")

    ids = [m["id"] for m in listing["data"]]
    assert listing["object"] == "list"
    assert {"mistral-small-latest", "mistral-embed", "codestral-latest"} <= set(ids)
    assert card.json()["capabilities"]["completion_chat"] is True
    assert missing.status_code == 404
    assert missing.json()["object"] == "error"
