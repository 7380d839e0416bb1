"""Agent jobs with HTTP tools, streamed steps and upstream retries in the middle of a run."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, emulator_calls, events
from tests.integration.agent_support import (
    LOOKUP,
    MODEL,
    WEATHER,
    agent_job,
    create_agent,
    emulator,
    post_results,
    tool_server,
    wait_status,
    weather_job,
)

pytestmark = pytest.mark.timeout(90)


def test_http_tool_gets_a_signed_call_and_its_answer_is_used(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with tool_server('{"temp_c": 21}') as tools:
        job = api.submit(weather_job(tools.url))
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    [request] = tools.received
    call = Webhook(signing_secret(stack)).verify(request.body, request.headers)
    assert call["type"] == "tool.call"
    assert call["data"]["name"] == "get_weather"
    assert call["data"]["arguments"] == {"city": "Paris"}
    assert call["data"]["job_id"] == job["id"]
    assert call["data"]["conversation_id"] == final["result"]["conversation_id"]
    tool_call_id = call["data"]["tool_call_id"]
    assert request.headers["webhook-id"] == f"msg_{job['id'][4:]}_tool_{tool_call_id}"
    answer = final["result"]["outputs"][-1]["content"]
    assert 'The get_weather tool returned: {"temp_c": 21}' in answer
    # The url is ours: Mistral never sees it
    assert "url" not in json.dumps(final["result"]["steps"][0]["inputs"])
    types = [e["type"] for e in events(stack_redis, job["id"])]
    assert "job.requires_action" not in types
    assert types.count("job.step") == 2 and types.count("job.tool_result") == 1


def test_http_tool_that_fails_twice_is_retried(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with tool_server('{"temp_c": 5}', statuses=[500, 503]) as tools:
        job = api.submit(weather_job(tools.url))
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    assert len(tools.received) == 3
    assert len({r.headers["webhook-id"] for r in tools.received}) == 1
    log = events(stack_redis, job["id"])
    retries = [e["data"] for e in log if e["type"] == "job.tool_retrying"]
    assert [r["status_code"] for r in retries] == [500, 503]
    [result] = [e["data"] for e in log if e["type"] == "job.tool_result"]
    assert result["attempts"] == 3


def test_max_steps_exceeded_fails_the_job(stack: LocalStack, api: Api) -> None:
    with tool_server("{}") as tools:
        job = api.submit(weather_job(tools.url, max_steps=1))
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "failed"
    assert final["error"]["type"] == "max_steps_exceeded"
    assert "max_steps is 1" in final["error"]["message"]
    assert tools.received == []


def test_mixed_tools_wait_only_for_the_callers_calls(stack: LocalStack, api: Api) -> None:
    with tool_server('{"temp_c": 9}') as tools:
        request = {
            "model": MODEL,
            "inputs": "Use get_weather and lookup_user please",
            "tools": [{**WEATHER, "url": tools.url}, LOOKUP],
        }
        job = api.submit(agent_job(request))
        waiting = wait_status(api, job["id"], "requires_action")
        [pending] = waiting["pending_tool_calls"]
        assert pending["name"] == "lookup_user"
        assert len(tools.received) == 1

        response = post_results(
            api, job["id"], [{"tool_call_id": pending["tool_call_id"], "result": "Ada"}]
        )
        assert response.status_code == 202, response.text
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    sent = final["result"]["steps"][1]["inputs"]
    assert [(e["type"], e["result"]) for e in sent] == [
        ("function.result", '{"temp_c": 9}'),
        ("function.result", "Ada"),
    ]
    assert len(tools.received) == 1


def test_streamed_steps_send_deltas_and_the_same_result(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with tool_server('{"temp_c": 12}') as tools:
        job = api.submit(weather_job(tools.url, stream=True))
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    [request] = tools.received
    call = Webhook(signing_secret(stack)).verify(request.body, request.headers)
    assert call["data"]["arguments"] == {"city": "Paris"}
    answer = final["result"]["outputs"][-1]
    assert answer["type"] == "message.output"
    assert 'The get_weather tool returned: {"temp_c": 12}' in answer["content"]
    deltas = [e["data"] for e in events(stack_redis, job["id"]) if e["type"] == "job.delta"]
    assert {d["step"] for d in deltas} == {2}
    assert "".join(d["content"] for d in deltas) == answer["content"]
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [c["stream"] for c in calls] == [True, True]


def test_streamed_agent_completion(stack: LocalStack, api: Api, stack_redis: redis.Redis) -> None:
    agent_id = create_agent(stack, "streamer")
    message = {"role": "user", "content": "Tell me about Lyon"}
    job = api.submit(agent_job({"agent_id": agent_id, "messages": [message], "stream": True}))
    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    [answer] = final["result"]["outputs"]
    deltas = [e["data"] for e in events(stack_redis, job["id"]) if e["type"] == "job.delta"]
    assert "".join(d["content"] for d in deltas) == answer["content"]
    assert "Lyon" in answer["content"]


def test_a_streamed_step_is_put_back_together_like_a_plain_one(api: Api) -> None:
    # A connector turn: a tool.execution entry, then a message of text and reference chunks
    request = {
        "model": MODEL,
        "inputs": "Use web_search for Lyon",
        "tools": [{"type": "web_search"}],
    }
    plain = api.submit(agent_job(request))
    streamed = api.submit(agent_job({**request, "stream": True}))
    outputs = [
        api.wait_final(job["id"], callback=False)["result"]["outputs"] for job in (plain, streamed)
    ]

    def shape(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["type"], e.get("name"), e.get("arguments"), e.get("content")) for e in entries]

    assert [e["type"] for e in outputs[0]] == ["tool.execution", "message.output"]
    assert shape(outputs[1]) == shape(outputs[0])


def test_a_503_mid_run_retries_that_step_only(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    def fail_the_next_append(call: dict[str, Any]) -> None:
        # Step 1 is done when the tool is called: make step 2 meet a 503 whose Retry-After
        # is too long to wait in the worker, so the task is re-run from the stored progress.
        path = f"/v1/conversations/{call['data']['conversation_id']}"
        emulator(stack, "POST", "/_emulator/faults", {"script": ["503:1"], "paths": [path]})

    try:
        with tool_server('{"temp_c": 30}') as tools:
            tools.on_call = fail_the_next_append
            job = api.submit(weather_job(tools.url))
            final = api.wait_final(job["id"], callback=False)
    finally:
        emulator(stack, "DELETE", "/_emulator/faults")

    assert final["status"] == "succeeded", final["error"]
    conversation = f"/v1/conversations/{final['result']['conversation_id']}"
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [(c["path"], c["status"]) for c in calls] == [
        ("/v1/conversations", 200),
        (conversation, 503),
        (conversation, 200),
    ]
    assert len(tools.received) == 1
    assert final["attempts"] == 3
    assert len(final["result"]["steps"]) == 2
    log = events(stack_redis, job["id"])
    assert [e["data"]["error"]["status_code"] for e in log if e["type"] == "job.retrying"] == [503]
