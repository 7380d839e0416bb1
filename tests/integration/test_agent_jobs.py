"""Agent jobs end to end: API → worker → emulator Agents/Conversations over HTTP → callbacks.

Tool calls come from the emulator's deterministic rules (``emulator.agent_engine``): a turn
calls the first function tool while no function result was given yet (or the tools its text
names), and answers a function result with ``"The <name> tool returned: <result>"``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.devstack import LocalStack, launch
from tests.conftest import TEST_ENV
from tests.helpers import (
    Api,
    Captured,
    chat_body,
    emulator_calls,
    events,
    raw_receiver,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)

MODEL = "mistral-small-latest"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_user",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
    },
}


@dataclass
class ToolServer:
    """A local tool endpoint: answers ``statuses`` first (one per call), then 200 + ``answer``."""

    url: str
    answer: bytes
    statuses: list[int] = field(default_factory=list)
    received: list[Captured] = field(default_factory=list)
    #: Called with each request's JSON payload before answering.
    on_call: Callable[[dict[str, Any]], None] | None = None


@contextmanager
def tool_server(answer: str, statuses: list[int] | None = None) -> Iterator[ToolServer]:
    """Serve a ToolServer on a free 127.0.0.1 port (an allow-listed host of the stack)."""
    state = ToolServer(url="", answer=answer.encode(), statuses=list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.received.append(Captured(self.path, dict(self.headers.items()), body))
            if state.on_call is not None:
                state.on_call(json.loads(body))
            status = state.statuses.pop(0) if state.statuses else 200
            reply = state.answer if status == 200 else b"busy"
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/tools/weather"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def emulator(stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator directly (agents, conversation history, faults)."""
    response = httpx.request(
        method,
        f"{stack.emulator.url}{path}",
        json=body,
        headers={"Authorization": "Bearer emulator-key"},
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def create_agent(stack: LocalStack, name: str, **fields: Any) -> str:
    """Create an agent in the emulator and return its id."""
    agent = emulator(stack, "POST", "/v1/agents", {"model": MODEL, "name": name, **fields})
    return str(agent["id"])


def agent_job(request: dict[str, Any], callback_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "agent", "request": request}
    if callback_url:
        body["callback_url"] = callback_url
    return body


def post_results(api: Api, job_id: str, results: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/jobs/{job_id}/tool-results", json=results, headers=api.headers()
    )


def wait_status(api: Api, job_id: str, status: str) -> dict[str, Any]:
    return wait_for(
        lambda: (job := api.job(job_id))["status"] == status and job, 30, f"status {status}"
    )


def payloads(receiver_for_job: list[Captured], secret: str) -> list[dict[str, Any]]:
    """Every callback of a job, verified with the Standard Webhooks library."""
    return [Webhook(secret).verify(c.body, c.headers) for c in receiver_for_job]


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

    [payload] = payloads(captured, stack.secret)
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
        [waiting] = payloads(first, stack.secret)
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

    [succeeded] = payloads(done, stack.secret)
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


def weather_job(url: str, text: str = "Weather? city=Paris", **extra: Any) -> dict[str, Any]:
    """A model conversation whose get_weather tool is an HTTP tool at ``url``."""
    return agent_job({"model": MODEL, "inputs": text, "tools": [{**WEATHER, "url": url}], **extra})


def test_http_tool_gets_a_signed_call_and_its_answer_is_used(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with tool_server('{"temp_c": 21}') as tools:
        job = api.submit(weather_job(tools.url))
        final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    [request] = tools.received
    call = Webhook(stack.secret).verify(request.body, request.headers)
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
    call = Webhook(stack.secret).verify(request.body, request.headers)
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
    types = [p["type"] for p in payloads(receiver.for_job(job["id"]), impatient_stack.secret)]
    assert types == ["job.requires_action", "job.failed"]
    assert captured[-1].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_failed"
    assert final["callback"]["status"] == "delivered" and final["callback"]["attempts"] == 1
