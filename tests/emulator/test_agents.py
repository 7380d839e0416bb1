"""Agents over plain HTTP: create, versions, list, delete, legacy agents completions."""

from __future__ import annotations

import json
import re

import httpx

from tests.emulator.helpers import WEATHER, create_agent, sse_data


def test_create_returns_agent_at_version_0(client: httpx.Client) -> None:
    agent = create_agent(client, instructions="Be brief.", tools=[WEATHER, {"type": "web_search"}])

    assert re.fullmatch(r"ag_[0-9a-f]{32}", agent["id"])
    assert agent["object"] == "agent"
    assert (agent["version"], agent["versions"]) == (0, [0])
    assert agent["tools"][1] == {"type": "web_search"}
    assert agent["created_at"].endswith("Z")
    assert agent["deployment_chat"] is False
    assert agent["source"] == "api"


def test_update_adds_versions_and_old_ones_stay_readable(client: httpx.Client) -> None:
    agent = create_agent(client, description="v0")

    updated = client.patch(f"/v1/agents/{agent['id']}", json={"description": "v1"}).json()
    old = client.get(f"/v1/agents/{agent['id']}", params={"agent_version": 0}).json()
    versions = client.get(f"/v1/agents/{agent['id']}/versions").json()
    back = client.patch(f"/v1/agents/{agent['id']}/version", params={"version": 0}).json()

    assert (updated["version"], updated["versions"], updated["description"]) == (1, [0, 1], "v1")
    assert updated["name"] == "helper"
    assert old["description"] == "v0"
    assert [v["version"] for v in versions] == [1, 0]
    assert (back["version"], back["description"]) == (0, "v0")


def test_list_and_delete(client: httpx.Client) -> None:
    first = create_agent(client, name="a")
    second = create_agent(client, name="b")

    listing = client.get("/v1/agents").json()
    named = client.get("/v1/agents", params={"name": "a"}).json()
    deleted = client.delete(f"/v1/agents/{first['id']}")

    assert [a["id"] for a in listing] == [second["id"], first["id"]]
    assert [a["id"] for a in named] == [first["id"]]
    assert deleted.status_code == 204
    assert client.get(f"/v1/agents/{first['id']}").status_code == 404


def test_unknown_agent_is_mistral_404(client: httpx.Client) -> None:
    response = client.get("/v1/agents/ag_missing")

    assert response.status_code == 404
    assert response.json()["object"] == "error"
    assert "ag_missing" in response.json()["message"]


def test_create_validates(client: httpx.Client) -> None:
    no_name = client.post("/v1/agents", json={"model": "mistral-small-latest"})
    bad_model = client.post("/v1/agents", json={"model": "nope", "name": "x"})
    bad_handoff = client.post(
        "/v1/agents", json={"model": "mistral-small-latest", "name": "x", "handoffs": ["ag_no"]}
    )

    assert no_name.status_code == 422
    assert bad_model.status_code == 400
    assert bad_model.json()["code"] == "1500"
    assert bad_handoff.status_code == 400


def test_agents_completion_uses_the_agent(client: httpx.Client) -> None:
    agent = create_agent(client, tools=[WEATHER], completion_args={"max_tokens": 2})
    body = {"agent_id": agent["id"], "messages": [{"role": "user", "content": "hello there"}]}

    plain = client.post("/v1/agents/completions", json=body).json()
    call = client.post(
        "/v1/agents/completions",
        json={**body, "messages": [{"role": "user", "content": "call get_weather city=Rome"}]},
    ).json()

    assert plain["choices"][0]["message"]["content"] == "Echo:"
    assert plain["choices"][0]["finish_reason"] == "length"
    tool_call = call["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Rome"}


def test_agents_completion_stream_and_errors(client: httpx.Client) -> None:
    agent = create_agent(client)
    body = {"agent_id": agent["id"], "messages": [{"role": "user", "content": "hi"}]}

    stream = client.post("/v1/agents/completions", json={**body, "stream": True})
    missing = client.post("/v1/agents/completions", json={**body, "agent_id": "ag_x"})
    with_model = client.post("/v1/agents/completions", json={**body, "model": "m"})

    assert sse_data(stream)[-1] == "[DONE]"
    assert missing.status_code == 404
    assert with_model.status_code == 422
