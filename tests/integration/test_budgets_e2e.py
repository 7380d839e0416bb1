"""Cost, usage and budgets end to end: real API, worker, emulator and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.jobs import keys
from tests.conftest import API_KEYS, TEST_ENV
from tests.helpers import Api, api_error, chat_body, events, raw_receiver, wait_for
from tests.integration.batch_support import batch_body, requests_of

PRICES = {"mistral-small-*": {"input": 0.2, "output": 0.6}}
LIMITS = {
    "thrifty": {"tokens_per_day": 1},
    "patient": {"tokens_per_day": 1, "on_budget": "wait"},
}


@pytest.fixture(scope="module")
def budgeted() -> Iterator[LocalStack]:
    env = {
        **TEST_ENV,
        "MQ_API_KEYS": f"{API_KEYS},key-thrifty:thrifty,key-patient:patient",
        "MQ_MODEL_PRICES": json.dumps(PRICES),
        "MQ_TENANT_LIMITS": json.dumps(LIMITS),
        "MQ_BUDGET_RECHECK_SECONDS": "1",
    }
    local = launch(env=env, workers=1, concurrency=8)
    yield local
    local.stop()


@pytest.fixture(scope="module")
def budget_redis(budgeted: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(budgeted.redis.url, decode_responses=True)
    yield client
    client.close()


def _usage(api: Api, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{api.url}/v1/usage", params=params, headers=api.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _cost(usage: dict[str, Any]) -> float:
    return float(usage["prompt_tokens"] * 0.2 + usage["completion_tokens"] * 0.6) / 1e6


def test_jobs_and_callbacks_carry_cost_and_usage_sums_match(budgeted: LocalStack) -> None:
    api = Api(budgeted.api.url, "key-globex")
    before = _usage(api)
    with raw_receiver() as receiver:
        # Given two chat jobs (one streamed) and a direct batch of three requests
        chats = [
            api.submit(chat_body("price me", receiver.url)),
            api.submit(chat_body("stream me", receiver.url, stream=True)),
        ]
        batch = api.submit(batch_body(requests_of(3), mode="direct"))
        finals = [api.wait_final(j["id"], timeout=60) for j in chats]
        batch_final = api.wait_final(batch["id"], timeout=60, callback=False)
        captured = wait_for(lambda: receiver.received[:] if len(receiver.received) >= 2 else None,
                            20, "the callbacks")  # fmt: skip
    # Then each chat job's cost is its usage times the price
    for job in finals:
        assert job["status"] == "succeeded"
        assert job["cost"]["currency"] == "USD"
        assert job["cost"]["total"] == pytest.approx(_cost(job["result"]["usage"]), abs=1e-9)
        assert job["cost"]["total"] == pytest.approx(job["cost"]["input"] + job["cost"]["output"])
    # And the callbacks carry the same cost
    sent = {json.loads(c.body)["data"]["id"]: json.loads(c.body)["data"] for c in captured}
    for job in finals:
        assert sent[job["id"]]["cost"] == job["cost"]
    # And the usage API adds up exactly the jobs' usage (the batch's three calls included)
    after = _usage(api, group_by="model")
    chat_tokens = sum(j["result"]["usage"]["total_tokens"] for j in finals)
    assert batch_final["cost"]["total"] > 0
    assert after["jobs"] - before["jobs"] == 3
    added = after["cost"]["total"] - before["cost"]["total"]
    expected = sum(j["cost"]["total"] for j in finals) + batch_final["cost"]["total"]
    assert added == pytest.approx(expected, abs=1e-9)
    assert after["tokens"]["total"] - before["tokens"]["total"] > chat_tokens
    assert [g["model"] for g in after["data"]] == ["mistral-small-latest"]


def test_past_its_budget_a_tenant_gets_429_until_the_budget_allows(
    budgeted: LocalStack, budget_redis: redis.Redis
) -> None:
    api = Api(budgeted.api.url, "key-thrifty")
    # Given the tenant's first job used its whole day budget
    first = api.submit(chat_body("spend it all"))
    assert api.wait_final(first["id"], timeout=60, callback=False)["status"] == "succeeded"
    # When it submits another, it is refused until the end of the UTC day
    refused = api.post(chat_body("one more"))
    error = api_error(refused, 429)
    assert error["type"] == "budget_exceeded"
    assert error["details"]["budget"] == "tokens_per_day"
    assert error["details"]["resets_at"].endswith("T00:00:00Z")
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    # And another tenant is not affected
    assert Api(budgeted.api.url, "key-globex").post(chat_body("fine")).status_code == 202
    # When the budget is raised (the admin API's stored limits), jobs are accepted again
    budget_redis.hset(
        keys.tenant_record("thrifty"), "limits", json.dumps({"tokens_per_day": 10**9})
    )
    try:
        again = api.submit(chat_body("allowed again"))
        assert api.wait_final(again["id"], timeout=60, callback=False)["status"] == "succeeded"
    finally:
        budget_redis.delete(keys.tenant_record("thrifty"))


def test_with_on_budget_wait_jobs_stay_queued_then_run(
    budgeted: LocalStack, budget_redis: redis.Redis
) -> None:
    api = Api(budgeted.api.url, "key-patient")
    first = api.submit(chat_body("spend it all"))
    assert api.wait_final(first["id"], timeout=60, callback=False)["status"] == "succeeded"
    # Given the budget is used up, a new job is still accepted...
    waiting = api.submit(chat_body("wait for it"))

    def throttled() -> list[dict[str, Any]] | None:
        found = [e for e in events(budget_redis, waiting["id"]) if e["type"] == "job.throttled"]
        return found or None

    # ...and stays queued with job.throttled events naming the budget
    seen = wait_for(throttled, 30, "job.throttled")
    assert seen[0]["data"]["reason"] == "budget:tokens_per_day"
    assert api.job(waiting["id"])["status"] == "queued"
    # When the budget allows again, it runs
    budget_redis.hset(
        keys.tenant_record("patient"), "limits", json.dumps({"tokens_per_day": 10**9})
    )
    try:
        final = api.wait_final(waiting["id"], timeout=60, callback=False)
        assert final["status"] == "succeeded" and final["cost"]["total"] > 0
    finally:
        budget_redis.delete(keys.tenant_record("patient"))


def test_usage_ranges(budgeted: LocalStack) -> None:
    api = Api(budgeted.api.url, "key-acme")
    # A 'from' older than the kept days is moved up to the oldest kept day
    old = _usage(api, **{"from": "2000-01-01", "to": "2026-12-31", "group_by": "day"})
    assert old["from"] == "2025-11-27" and len(old["data"]) == 400
    # The first day there is: no day before it to keep (was a 500 from a date overflow)
    first = _usage(api, to="0001-01-01")
    assert first["from"] == "0001-01-01" and first["jobs"] == 0
    # A 'from' after 'to' is an empty range; bad values are 422 naming the field
    assert _usage(api, **{"from": "2026-12-02", "to": "2026-12-01"})["jobs"] == 0
    for params in ({"from": "yesterday"}, {"group_by": "tenant"}):
        response = httpx.get(f"{api.url}/v1/usage", params=params, headers=api.headers())
        error = api_error(response, 422)
        assert error["details"][0]["field"] == next(iter(params))
    # And other tenants' usage is never shown (acme runs no job in this module; globex does)
    assert _usage(api)["tokens"]["total"] == 0 and _usage(api)["jobs"] == 0
