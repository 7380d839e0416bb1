"""Chat jobs end to end: API → Redis → Celery worker → emulator over HTTP → signed callback."""

from __future__ import annotations

import json

import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, chat_body, emulator_calls, events, raw_receiver, wait_for

pytestmark = pytest.mark.timeout(90)


def test_job_succeeds_with_a_verified_callback(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        # Given a chat job with a callback URL
        job = api.submit(chat_body("What is the capital of France?", receiver.url))
        assert job["status"] == "queued" and job["id"].startswith("job_")

        # When it ends, the callback arrives
        final = api.wait_final(job["id"])
        captured = wait_for(lambda: receiver.for_job(job["id"]), 10, "the callback")

    # Then any Standard Webhooks library verifies it unchanged
    payload = Webhook(signing_secret(stack)).verify(captured[0].body, captured[0].headers)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == job["id"]
    completion = payload["data"]["result"]
    assert completion["object"] == "chat.completion"
    assert "France" in completion["choices"][0]["message"]["content"]
    assert completion["usage"]["total_tokens"] > 0
    assert captured[0].headers["webhook-id"] == f"msg_{job['id'][4:]}_job_succeeded"
    # And the job shows the same outcome
    assert final["status"] == "succeeded"
    assert final["attempts"] == 1
    assert final["callback"]["status"] == "delivered"
    assert final["callback"]["attempts"] == 1
    assert final["callback"]["last_status_code"] == 200
    assert final["started_at"] and final["finished_at"]


def test_retries_503_then_429_with_retry_after(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    # Given upstream fails the first call with 503 and the second with 429 + Retry-After: 1
    job = api.submit(chat_body("retry me [[fault:503,429:1]]"))

    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    assert final["attempts"] == 3
    log = events(stack_redis, job["id"])
    retrying = [e for e in log if e["type"] == "job.retrying"]
    assert [e["data"]["error"]["status_code"] for e in retrying] == [503, 429]
    assert retrying[1]["data"]["delay"] >= 1.0
    assert [e["type"] for e in log][0] == "job.queued"
    assert log[-1]["type"] == "job.succeeded"
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [c["status"] for c in calls] == [503, 429, 200]


def test_upstream_400_fails_at_once_with_mistrals_message(stack: LocalStack, api: Api) -> None:
    job = api.submit(chat_body("bad request", model="no-such-model"))

    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "failed"
    assert final["attempts"] == 1
    assert final["error"]["status_code"] in (400, 404)
    assert "no-such-model" in final["error"]["message"]
    assert len(emulator_calls(stack.emulator.url, job["id"])) == 1


def test_dropped_connection_is_retried(stack: LocalStack, api: Api) -> None:
    job = api.submit(chat_body("drop once [[fault:drop]]"))

    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded"
    assert final["attempts"] == 2


def test_callback_retried_with_the_same_webhook_id(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        # Given a receiver that answers 500 twice, then 200
        receiver.statuses[:] = [500, 500]
        job = api.submit(chat_body("callback retries", receiver.url))

        final = api.wait_final(job["id"], timeout=30)

        attempts = receiver.for_job(job["id"])
    assert final["callback"]["status"] == "delivered"
    assert final["callback"]["attempts"] == 3
    assert len(attempts) == 3
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    for attempt in attempts:
        Webhook(signing_secret(stack)).verify(attempt.body, attempt.headers)


def test_callback_fails_after_the_whole_schedule(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    # Given a callback URL where nothing listens
    with raw_receiver() as receiver:
        dead_url = receiver.url
    job = api.submit(chat_body("nobody listens", dead_url))

    final = api.wait_final(job["id"], timeout=30)

    assert final["status"] == "succeeded"
    assert final["callback"]["status"] == "failed"
    # The schedule has three delays: four attempts in all.
    assert final["callback"]["attempts"] == 4
    types = [e["type"] for e in events(stack_redis, job["id"])]
    assert types.count("callback.retrying") == 3
    assert types[-1] == "callback.failed"


def test_result_is_mistrals_response_body(stack: LocalStack, api: Api) -> None:
    job = api.submit(chat_body("Count to three.", max_tokens=50, temperature=0.2))

    final = api.wait_final(job["id"], callback=False)

    assert final["request"] == json.loads(json.dumps(job["request"]))
    assert final["request"]["max_tokens"] == 50
    assert set(final["result"]) >= {"id", "object", "created", "model", "choices", "usage"}
