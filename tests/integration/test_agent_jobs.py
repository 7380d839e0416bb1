"""Agent jobs end to end: API → worker → emulator Agents/Conversations over HTTP → callbacks.

Completions and conversations, the requires_action round trip, its timeout, cancel, and bad
input. HTTP tools, streaming and retries are in ``test_agent_tools.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack, launch
from tests.conftest import TEST_ENV
from tests.helpers import Api, chat_body, emulator_calls, events, raw_receiver, wait_for
from tests.integration.agent_support import (
    MODEL,
    WEATHER,
    agent_job,
    create_agent,
    emulator,
    payloads,
    post_results,
    wait_status,
)

pytestmark = pytest.mark.timeout(90)


def test_agent_completion_calls_back_with_the_agents_answer(stack: LocalStack, api: Api) -> None:
    agent_id = create_agent(stack, "geographer", instructions="Answer briefly.")
    with raw_receiver() as receiver:
        job = api.submit(
            agent_job(
                {
                    "agent_id": agent_id,
                    "messages": [{"role": "user", "content": "What is the capital of France?"}],
                },
                receiver.url,
            )
        )
        final = api.wait_final(job["id"])
        captured = wait_for(lambda: receiver.for_job(job["id"]), 10, "the callback")

    [payload] = payloads(captured, signing_secret(stack))
    assert payload["type"] == "job.succeeded"
    result = payload["data"]["result"]
    assert result["mode"] == "completion"
    assert result["conversation_id"] is None
    [answer] = result["outputs"]
    assert answer["role"] == "assistant"
    assert "What is the capital of France?" in answer["content"]
    assert len(result["steps"]) == 1
    assert result["usage"]["total_tokens"] > 0
    assert final["status"] == "succeeded" and final["callback"]["status"] == "delivered"
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [(c["path"], c["status"]) for c in calls] == [("/v1/agents/completions", 200)]


def test_conversation_waits_for_tool_results_then_finishes(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    agent_id = create_agent(stack, "forecaster", tools=[WEATHER])
    with raw_receiver() as receiver:
        # Given a conversation job whose agent calls get_weather
        job = api.submit(
            agent_job({"agent_id": agent_id, "inputs": "Weather? city=Paris"}, receiver.url)
        )
        # Then the job waits, and the requires_action callback carries the pending call
        first = wait_for(lambda: receiver.for_job(job["id"]), 30, "requires_action callback")
        [waiting] = payloads(first, signing_secret(stack))
        assert waiting["type"] == "job.requires_action"
        assert first[0].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_requires_action_1"
        [call] = waiting["data"]["pending_tool_calls"]
        assert call["name"] == "get_weather"
        assert json.loads(call["arguments"]) == {"city": "Paris"}
        assert waiting["data"]["status"] == "requires_action"
        conversation_id = waiting["data"]["progress"]["conversation_id"]
        assert conversation_id.startswith("conv_")
        assert api.job(job["id"])["pending_tool_calls"] == [call]

        # When the caller posts the result
        response = post_results(
            api, job["id"], [{"tool_call_id": call["tool_call_id"], "result": '{"temp_c": 18}'}]
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        assert response.json()["pending_tool_calls"] is None

        # Then the job resumes on the same conversation and succeeds with the tool's answer
        final = api.wait_final(job["id"])
        done = wait_for(lambda: receiver.for_job(job["id"])[1:], 10, "the final callback")

    [succeeded] = payloads(done, signing_secret(stack))
    assert succeeded["type"] == "job.succeeded"
    assert done[0].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_succeeded"
    result = final["result"]
    assert result["conversation_id"] == conversation_id
    assert 'The get_weather tool returned: {"temp_c": 18}' in result["outputs"][-1]["content"]
    assert [s["conversation_id"] for s in result["steps"]] == [conversation_id] * 2
    assert result["steps"][1]["inputs"][0]["type"] == "function.result"
    assert final["callback"]["status"] == "delivered" and final["callback"]["attempts"] == 1
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [c["path"] for c in calls] == [
        "/v1/conversations",
        f"/v1/conversations/{conversation_id}",
    ]
    history = emulator(stack, "GET", f"/v1/conversations/{conversation_id}/history")
    assert [e["type"] for e in history["entries"]] == [
        "message.input",
        "function.call",
        "function.result",
        "message.output",
    ]
    types = [e["type"] for e in events(stack_redis, job["id"])]
    assert types.count("job.step") == 2
    assert types.index("job.requires_action") < types.index("job.resumed")
    # A job that no longer waits takes no results
    again = post_results(api, job["id"], [{"tool_call_id": call["tool_call_id"], "result": "x"}])
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "conflict"


def test_agent_completion_tool_round_trip(stack: LocalStack, api: Api) -> None:
    agent_id = create_agent(stack, "weatherbot", tools=[WEATHER])
    message = {"role": "user", "content": "Please call get_weather city=Rome"}
    job = api.submit(agent_job({"agent_id": agent_id, "messages": [message]}))
    waiting = wait_status(api, job["id"], "requires_action")
    [call] = waiting["pending_tool_calls"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Rome"}

    answer = {"tool_call_id": call["tool_call_id"], "result": '{"temp_c": 25}'}
    assert post_results(api, job["id"], [answer]).status_code == 202
    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    result = final["result"]
    assert result["mode"] == "completion"
    assert result["outputs"][0]["content"] == 'The get_weather tool returned: {"temp_c": 25}'
    assert result["steps"][1]["inputs"] == [
        {"role": "tool", "tool_call_id": call["tool_call_id"], "name": "get_weather",
         "content": '{"temp_c": 25}'}
    ]  # fmt: skip
    assert result["usage"]["total_tokens"] == sum(
        s["usage"]["total_tokens"] for s in result["steps"]
    )


def test_cancelling_a_waiting_job_sends_its_own_callback(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        request = {"model": MODEL, "inputs": "Weather?", "tools": [WEATHER]}
        job = api.submit(agent_job(request, receiver.url))
        waiting = wait_status(api, job["id"], "requires_action")
        wait_for(lambda: receiver.for_job(job["id"]), 10, "the requires_action callback")

        cancel = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
        assert cancel.status_code == 200, cancel.text
        final = api.wait_final(job["id"])
        captured = wait_for(lambda: receiver.for_job(job["id"])[1:], 10, "the final callback")

    assert final["status"] == "cancelled" and final["pending_tool_calls"] is None
    [pending] = waiting["pending_tool_calls"]
    late = post_results(api, job["id"], [{"tool_call_id": pending["tool_call_id"], "result": "x"}])
    assert late.status_code == 409
    assert [json.loads(c.body)["type"] for c in receiver.for_job(job["id"])] == [
        "job.requires_action",
        "job.cancelled",
    ]
    assert captured[0].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_cancelled"
    assert final["callback"]["status"] == "delivered" and final["callback"]["attempts"] == 1


def test_bad_tool_results_and_tool_urls_are_refused(stack: LocalStack, api: Api) -> None:
    job = api.submit(agent_job({"model": MODEL, "inputs": "Weather?", "tools": [WEATHER]}))
    waiting = wait_status(api, job["id"], "requires_action")
    [pending] = waiting["pending_tool_calls"]
    good = {"tool_call_id": pending["tool_call_id"], "result": "sunny"}

    unknown = post_results(api, job["id"], [good, {"tool_call_id": "nope12345", "result": "x"}])
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "1.tool_call_id"
    assert post_results(api, job["id"], [good, good]).status_code == 422
    assert post_results(api, job["id"], []).status_code == 422
    not_string = post_results(api, job["id"], [{**good, "result": {"temp": 1}}])
    assert not_string.status_code == 422
    assert api.job(job["id"])["status"] == "requires_action"

    chat = api.submit(chat_body("hi"))
    api.wait_final(chat["id"], callback=False)
    assert post_results(api, chat["id"], [good]).status_code == 409

    private = {**WEATHER, "url": "https://10.0.0.1/tool"}
    refused = api.post(agent_job({"model": MODEL, "inputs": "x", "tools": [private]}))
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "request.tools.0.url"
    assert post_results(api, job["id"], [good]).status_code == 202


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"inputs": "hi"}, "request.agent_id"),
        ({"inputs": "hi", "agent_id": "ag_1", "model": MODEL}, "request.agent_id"),
        ({"inputs": "hi", "conversation_id": "conv_1", "model": MODEL}, "request.model"),
        ({"agent_id": "ag_1", "messages": []}, "request.messages"),
        ({"model": MODEL}, "request.inputs"),
        ({"model": MODEL, "inputs": "hi", "max_steps": 0}, "request.max_steps"),
        ({"model": MODEL, "inputs": "hi", "store": False}, "request.store"),
        ({"model": MODEL, "inputs": "hi", "tools": [{"type": "function"}]}, "request.tools.0"),
        (
            {"model": MODEL, "inputs": "hi", "tools": [{**WEATHER, "url": "ftp://x"}]},
            "request.tools.0.url",
        ),
    ],
)
def test_agent_request_errors_name_the_field(
    api: Api, request_: dict[str, Any], field: str
) -> None:
    response = api.post(agent_job(request_))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


@pytest.fixture(scope="module")
def impatient_stack() -> Iterator[LocalStack]:
    """A deployment whose agent jobs wait at most one second for tool results."""
    local = launch(
        env={**TEST_ENV, "MQ_REQUIRES_ACTION_TIMEOUT_SECONDS": "1"}, workers=1, concurrency=4
    )
    yield local
    local.stop()


def test_requires_action_timeout_fails_the_job(impatient_stack: LocalStack) -> None:
    api = Api(impatient_stack.api.url, "key-acme")
    with raw_receiver() as receiver:
        job = api.submit(
            agent_job({"model": MODEL, "inputs": "Weather?", "tools": [WEATHER]}, receiver.url)
        )
        final = api.wait_final(job["id"], timeout=30)
        captured = wait_for(lambda: receiver.for_job(job["id"])[1:], 10, "the final callback")

    assert final["status"] == "failed"
    assert final["error"]["type"] == "requires_action_timeout"
    assert final["pending_tool_calls"] is None
    types = [
        p["type"] for p in payloads(receiver.for_job(job["id"]), signing_secret(impatient_stack))
    ]
    assert types == ["job.requires_action", "job.failed"]
    assert captured[-1].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_failed"
    assert final["callback"]["status"] == "delivered" and final["callback"]["attempts"] == 1
