"""The Python client (``clients/python``) against a real stack: API, worker, emulator, Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from mistral_queue_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    Job,
    NotFoundError,
    ValidationError,
    WaitTimeoutError,
    webhooks,
)

from mistral_queue.dev.processes import cli
from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, raw_receiver, wait_for

pytestmark = pytest.mark.timeout(120)

MODEL = "mistral-small-latest"


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def client(stack: LocalStack) -> Iterator[Client]:
    with Client(stack.api.url, "key-acme", timeout=30) as c:
        yield c


def test_chat_shortcut_waits_for_mistrals_answer(stack: LocalStack) -> None:
    with Client(stack.api.url, "key-acme") as client:
        job = client.chat(MODEL, _user("Say hello"), temperature=0.2, metadata={"k": "v"})

    assert isinstance(job, Job) and job.status == "succeeded" and job.is_final
    assert job.request == {"model": MODEL, "messages": _user("Say hello"), "temperature": 0.2}
    assert job.metadata == {"k": "v"} and job.attempts == 1
    assert job.trace_id is None  # tracing is off unless OTEL_* configures it
    assert job.result["object"] == "chat.completion"
    assert job.result["choices"][0]["message"]["content"]


def test_idempotency_key_returns_the_first_job_and_refuses_another_body(
    stack: LocalStack,
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    with Client(stack.api.url, "key-acme") as client:
        request = {"model": MODEL, "messages": _user("once")}
        first = client.jobs.create("chat", request, idempotency_key=key)
        again = client.jobs.create("chat", request, idempotency_key=key)
        fresh = client.jobs.create("chat", request)
        with pytest.raises(ConflictError) as refused:
            client.jobs.create("chat", {**request, "temperature": 1}, idempotency_key=key)

    assert again.id == first.id and fresh.id != first.id
    assert refused.value.status_code == 409 and refused.value.message


def test_list_iterates_every_page_with_filters(stack: LocalStack) -> None:
    tag = uuid.uuid4().hex
    before = datetime.now(UTC) - timedelta(seconds=1)
    with Client(stack.api.url, "key-globex") as client:
        ids = [
            client.jobs.create("chat", {"model": MODEL, "messages": _user(f"{tag} {i}")}).id
            for i in range(5)
        ]
        for job_id in ids:
            client.jobs.wait(job_id, timeout=60)
        listed = [j.id for j in client.jobs.list(type="chat", status=["succeeded"], limit=2)]
        recent = [j.id for j in client.jobs.list(created_after=before, limit=2)]
        none_yet = list(client.jobs.list(created_before=before - timedelta(days=3650)))

    # Newest first, across three pages of two
    assert [i for i in listed if i in ids] == list(reversed(ids))
    assert set(ids) <= set(recent) and none_yet == []


def test_events_deltas_and_resuming_after_a_position(stack: LocalStack) -> None:
    with Client(stack.api.url, "key-acme") as client:
        request = {"model": MODEL, "messages": _user("Tell a long story"), "stream": True}
        job = client.jobs.create("chat", request)
        text = "".join(client.jobs.deltas(job.id))
        events = list(client.jobs.events(job.id))
        resumed = list(client.jobs.events(job.id, after=events[1].id))
        final = client.jobs.get(job.id)

    assert events[0].type == "job.queued" and events[-1].type == "job.succeeded"
    assert text == final.result["choices"][0]["message"]["content"] and text
    assert [e.id for e in resumed] == [e.id for e in events[2:]]
    assert all(e.job_id == job.id for e in events)


def test_errors_are_typed_with_the_servers_type_and_message(
    stack: LocalStack, client: Client
) -> None:
    stranger = Client(stack.api.url, "wrong-key", max_retries=0)
    with stranger, pytest.raises(AuthenticationError) as unauthenticated:
        stranger.jobs.get("job_x")
    assert unauthenticated.value.status_code == 401

    with Client(stack.api.url, "key-acme") as acme, Client(stack.api.url, "key-globex") as globex:
        job = acme.chat(MODEL, _user("mine"))
        with pytest.raises(NotFoundError):
            globex.jobs.get(job.id)
        # An id that tries to reach another route stays one path segment
        with pytest.raises(NotFoundError):
            acme.jobs.get(f"../jobs/{job.id}")
        with pytest.raises(ValidationError) as invalid:
            acme.jobs.create("chat", {"model": MODEL, "messages": []})
        with pytest.raises(ConflictError):
            acme.jobs.cancel(job.id)
        with pytest.raises(ConflictError):
            list(acme.jobs.results(job.id))
        with pytest.raises(WaitTimeoutError):
            acme.jobs.wait(acme.jobs.create("chat", {"model": MODEL, "messages": _user("x")}).id, 0)

    assert invalid.value.status_code == 422 and invalid.value.type == "validation_error"
    assert "request.messages" in json.dumps(invalid.value.details)


def test_batch_results_stream_one_line_per_request(stack: LocalStack, client: Client) -> None:
    requests = [
        {"custom_id": f"r{i}", "body": {"messages": _user(f"question {i}")}} for i in range(3)
    ]
    request = {"model": MODEL, "mode": "direct", "requests": requests}
    job = client.jobs.wait(client.jobs.create("batch", request).id, timeout=60)
    lines = list(client.jobs.results(job.id))

    assert job.status == "succeeded"
    assert [r.custom_id for r in lines] == ["r0", "r1", "r2"]
    assert all(r.response is not None and r.error is None for r in lines)


def test_tool_results_resume_an_agent_job(stack: LocalStack, client: Client) -> None:
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
    job = client.jobs.create("agent", {"model": MODEL, "inputs": "Weather?", "tools": [tool]})

    def waiting_job() -> Job | None:
        polled = client.jobs.get(job.id)
        return polled if polled.status == "requires_action" else None

    waiting = wait_for(waiting_job, 30, "requires_action")
    [call] = waiting.pending_tool_calls or []
    assert call.name == "get_weather"
    resumed = client.jobs.tool_results(job.id, {call.tool_call_id: "sunny"})
    final = client.jobs.wait(job.id, timeout=60)

    assert resumed.status == "queued"
    assert final.status == "succeeded" and "sunny" in json.dumps(final.result)


def test_async_client_has_the_same_surface(stack: LocalStack) -> None:
    async def run() -> tuple[Job, list[str], list[str], str]:
        async with AsyncClient(stack.api.url, "key-acme") as client:
            request = {"model": MODEL, "messages": _user("async"), "stream": True}
            job = await client.jobs.create("chat", request)
            types = [e.type async for e in client.jobs.events(job.id)]
            final = await client.jobs.wait(job.id, timeout=60)
            text = "".join([d async for d in client.jobs.deltas(job.id)])
            listed = [j.id async for j in client.jobs.list(limit=3) if j.id == job.id]
            with pytest.raises(NotFoundError):
                await client.jobs.get("job_nope")
            return final, types, listed, text

    final, types, listed, text = asyncio.run(run())
    assert final.status == "succeeded" and types[-1] == "job.succeeded"
    assert listed == [final.id] and text == final.result["choices"][0]["message"]["content"]


def test_webhooks_verify_accepts_a_real_callback_and_refuses_tampering(
    stack: LocalStack, client: Client
) -> None:
    with raw_receiver() as receiver:
        job = client.jobs.create(
            "chat", {"model": MODEL, "messages": _user("call me")}, callback_url=receiver.url
        )
        [captured] = wait_for(lambda: receiver.for_job(job.id), 60, "the callback")
        # The attempt is recorded once the receiver has answered: only then may it be redelivered
        wait_for(lambda: client.jobs.get(job.id).callback.status == "delivered", 30, "delivered")
        redelivered = client.jobs.redeliver(job.id)
        [_, again] = wait_for(lambda: receiver.for_job(job.id)[1:] and receiver.for_job(job.id),
                              30, "the redelivered callback")  # fmt: skip

    assert redelivered.id == job.id
    assert again.headers["webhook-id"] == captured.headers["webhook-id"]

    # Callbacks are signed with the tenant's own secret (the master verifies none).
    secret = signing_secret(stack, "acme")
    payload = webhooks.verify(captured.body, captured.headers, secret)
    assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job.id
    # Rotation: any of several secrets may match
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    assert webhooks.verify(captured.body, captured.headers, [other, secret]) == payload
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(captured.body.replace(b"succeeded", b"failed"), captured.headers, secret)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(captured.body, captured.headers, other)


def test_submit_command_posts_and_follows_through_the_client(stack: LocalStack, api: Api) -> None:
    started = time.monotonic()
    done = subprocess.run(
        cli("submit", "--message", "via the CLI", "--api-url", stack.api.url,
            "--api-key", "key-acme", "--wait", "--timeout", "60"),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and time.monotonic() - started < 90
    assert api.job(job["id"])["request"]["messages"] == _user("via the CLI")

    refused = subprocess.run(
        cli("submit", "--message", "x", "--api-url", stack.api.url, "--api-key", "wrong"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "401" in refused.stderr
