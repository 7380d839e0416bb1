"""Conversations over plain HTTP: entries, function calls, handoffs, connectors, streams."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.emulator.helpers import WEATHER, create_agent


def start(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST /v1/conversations and return the JSON answer (must be 200)."""
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a named-event SSE body."""
    pairs = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        pairs.append((lines["event"], json.loads(lines["data"])))
    return pairs


def test_model_conversation_answers_and_persists(client: httpx.Client) -> None:
    answer = start(client, model="mistral-small-latest", inputs="Hello, world!")

    conversation_id = answer["conversation_id"]
    assert re.fullmatch(r"conv_[0-9a-f]{32}", conversation_id)
    assert answer["object"] == "conversation.response"
    output = answer["outputs"][0]
    assert output["type"] == "message.output"
    assert output["object"] == "entry"
    assert output["content"] == "Echo: Hello, world!"
    assert output["id"].startswith("msg_")
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + 6

    summary = client.get(f"/v1/conversations/{conversation_id}").json()
    history = client.get(f"/v1/conversations/{conversation_id}/history").json()
    assert summary["object"] == "conversation"
    assert summary["model"] == "mistral-small-latest"
    assert [e["type"] for e in history["entries"]] == ["message.input", "message.output"]
    assert history["entries"][1]["id"] == output["id"]


def test_function_call_round_trip(client: httpx.Client) -> None:
    agent = create_agent(client, tools=[WEATHER])
    first = start(client, agent_id=agent["id"], inputs="What is the weather? city=Paris")

    call = first["outputs"][0]
    assert call["type"] == "function.call"
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call["tool_call_id"])
    assert json.loads(call["arguments"]) == {"city": "Paris"}

    result = {"type": "function.result", "tool_call_id": call["tool_call_id"], "result": "18C"}
    second = client.post(
        f"/v1/conversations/{first['conversation_id']}",
        json={"inputs": [result], "stream": False, "store": True, "handoff_execution": "server"},
    ).json()
    third = client.post(
        f"/v1/conversations/{first['conversation_id']}", json={"inputs": "thanks"}
    ).json()

    assert second["outputs"][0]["content"] == "The get_weather tool returned: 18C"
    assert third["outputs"][0]["content"] == "Echo: thanks"
    messages = client.get(f"/v1/conversations/{first['conversation_id']}/messages").json()
    assert [m["type"] for m in messages["messages"]] == [
        "message.input",
        "message.output",
        "message.input",
        "message.output",
    ]


def test_unknown_function_result_is_400(client: httpx.Client) -> None:
    first = start(client, model="mistral-small-latest", inputs="hi")

    response = client.post(
        f"/v1/conversations/{first['conversation_id']}",
        json={"inputs": [{"tool_call_id": "AAAAAAAAA", "result": "x"}]},
    )

    assert response.status_code == 400


def test_handoff_and_connector(client: httpx.Client) -> None:
    helper = create_agent(client, name="helper")
    main = create_agent(
        client, name="main", tools=[{"type": "web_search"}], handoffs=[helper["id"]]
    )

    searched = start(client, agent_id=main["id"], inputs="please web_search cheese")
    handed = client.post(
        f"/v1/conversations/{searched['conversation_id']}", json={"inputs": "ask helper"}
    ).json()

    execution, message = searched["outputs"]
    assert execution["type"] == "tool.execution"
    assert execution["name"] == "web_search"
    assert json.loads(execution["arguments"]) == {"query": "please web_search cheese"}
    assert message["content"][1]["type"] == "tool_reference"
    assert searched["usage"]["connectors"] == {"web_search": 1}
    switch, reply = handed["outputs"]
    assert switch["type"] == "agent.handoff"
    assert (switch["previous_agent_id"], switch["next_agent_id"]) == (main["id"], helper["id"])
    assert reply["agent_id"] == helper["id"]


def test_restart_branches_into_a_new_conversation(client: httpx.Client) -> None:
    first = start(client, model="mistral-small-latest", inputs="one")
    conversation_id = first["conversation_id"]
    client.post(f"/v1/conversations/{conversation_id}", json={"inputs": "two"})
    entries = client.get(f"/v1/conversations/{conversation_id}/history").json()["entries"]

    branch = client.post(
        f"/v1/conversations/{conversation_id}/restart",
        json={"from_entry_id": entries[1]["id"], "inputs": "three"},
    ).json()
    missing_entry = client.post(
        f"/v1/conversations/{conversation_id}/restart", json={"from_entry_id": "msg_x"}
    )

    assert branch["conversation_id"] != conversation_id
    branched = client.get(f"/v1/conversations/{branch['conversation_id']}/history").json()
    contents = [e.get("content") for e in branched["entries"]]
    assert contents == ["one", "Echo: one", "three", "Echo: three"]
    assert missing_entry.status_code == 400


def test_unknown_conversation_and_bad_starts(client: httpx.Client) -> None:
    missing = client.get("/v1/conversations/conv_missing/history")
    append_missing = client.post("/v1/conversations/conv_missing", json={"inputs": "x"})
    both = client.post(
        "/v1/conversations", json={"inputs": "x", "model": "mistral-small-latest", "agent_id": "a"}
    )
    unknown_agent = client.post("/v1/conversations", json={"inputs": "x", "agent_id": "ag_no"})

    assert missing.status_code == 404
    assert missing.json()["object"] == "error"
    assert append_missing.status_code == 404
    assert both.status_code == 400
    assert unknown_agent.status_code == 404


def test_store_false_keeps_nothing(client: httpx.Client) -> None:
    answer = start(client, model="mistral-small-latest", inputs="x", store=False)

    assert client.get(f"/v1/conversations/{answer['conversation_id']}").status_code == 404


def test_stream_has_named_events_and_no_done(client: httpx.Client) -> None:
    response = client.post(
        "/v1/conversations",
        json={"model": "mistral-small-latest", "inputs": "a b", "stream": True, "tools": [WEATHER]},
    )

    assert response.headers["content-type"].split(";")[0] == "text/event-stream"
    assert "[DONE]" not in response.text
    pairs = events(response)
    names = [name for name, _ in pairs]
    assert names[0] == "conversation.response.started"
    assert names[-1] == "conversation.response.done"
    assert all(name == data["type"] for name, data in pairs)
    deltas = [data for name, data in pairs if name == "function.call.delta"]
    assert len(deltas) == 2
    assert json.loads("".join(d["arguments"] for d in deltas)) == {"city": "example"}
    conversation_id = pairs[0][1]["conversation_id"]
    stored = client.get(f"/v1/conversations/{conversation_id}/history").json()["entries"]
    assert stored[-1]["id"] == deltas[0]["id"]


def test_message_deltas_rebuild_the_answer(client: httpx.Client) -> None:
    response = client.post(
        "/v1/conversations",
        json={"model": "mistral-small-latest", "inputs": "Hello, world!", "stream": True},
    )

    deltas = [data for name, data in events(response) if name == "message.output.delta"]
    assert "".join(d["content"] for d in deltas) == "Echo: Hello, world!"
    assert {d["output_index"] for d in deltas} == {0}
    assert events(response)[-1][1]["usage"]["completion_tokens"] == 6


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/chat/completions"])
def test_stream_error_fault(client: httpx.Client, path: str) -> None:
    body: dict[str, Any] = {"model": "mistral-small-latest", "stream": True}
    if path == "/v1/conversations":
        body["inputs"] = "one two three"
    else:
        body["messages"] = [{"role": "user", "content": "one two three"}]

    response = client.post(path, json=body, headers={"x-emulator-fault": "stream_error"})

    assert response.status_code == 200
    if path == "/v1/conversations":
        name, data = events(response)[-1]
        assert name == "conversation.response.error"
        assert (data["message"], data["code"]) == ("Emulated stream error", 500)
    else:
        frames = [line for line in response.text.split("\n") if line.startswith("data: {")]
        assert json.loads(frames[-1][6:])["choices"][0]["finish_reason"] == "error"


def test_marker_in_conversation_inputs(client: httpx.Client) -> None:
    body = {"model": "mistral-small-latest", "inputs": "retry me [[fault:429:2,ok]]"}

    first = client.post("/v1/conversations", json=body)
    second = client.post("/v1/conversations", json=body)

    assert first.status_code == 429
    assert first.headers["retry-after"] == "2"
    assert second.json()["outputs"][0]["content"] == "Echo: retry me"
