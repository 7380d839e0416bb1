"""``POST /v1/jobs/bulk``: each item validated and accepted on its own, in order."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import redis

from mistral_queue.jobs import keys
from tests.helpers import Api, api_error, chat_body
from tests.integration.agent_support import agent_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _bulk(api: Api, jobs: list[Any]) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/jobs/bulk", json={"jobs": jobs}, headers=api.headers(), timeout=60
    )


def test_good_and_bad_items_get_their_own_outcome(api: Api, stack_redis: redis.Redis) -> None:
    key = f"bulk-{uuid.uuid4().hex}"
    jobs: list[Any] = [
        chat_body("bulk one"),
        {"type": "chat", "request": {"model": "m"}},  # no messages
        {**chat_body("bulk keyed"), "idempotency_key": key},
        {**chat_body("bulk keyed"), "idempotency_key": key},  # the same again: a replay
        {**chat_body("bulk other body"), "idempotency_key": key},  # another body: conflict
        {**chat_body("bulk later"), "delay_seconds": 60},
        {**chat_body("bulk unsafe"), "callback_url": "http://169.254.169.254/x"},
        {
            "type": "batch",
            "request": {
                "model": "m",
                "endpoint": "/v1/chat/completions",
                "requests": [{"custom_id": "a", "body": {}}],
            },
        },  # fmt: skip
        {**chat_body("bulk bad key"), "idempotency_key": 7},
        "not an object",
    ]
    response = _bulk(api, jobs[:-1])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(9))
    assert [d["status"] for d in data] == [202, 422, 202, 200, 409, 202, 422, 422, 422]
    assert data[1]["error"]["details"][0]["field"] == "request.messages"
    assert data[3]["job"]["id"] == data[2]["job"]["id"]
    assert data[4]["error"]["type"] == "idempotency_conflict"
    assert data[5]["job"]["status"] == "scheduled"
    assert data[6]["error"]["details"][0]["field"] == "callback_url"
    assert data[7]["error"]["details"][0]["field"] == "type"
    assert data[8]["error"]["details"][0]["field"] == "idempotency_key"
    # The accepted ones run; the scheduled one waits in the due set
    for index in (0, 2):
        assert api.wait_final(data[index]["job"]["id"], callback=False)["status"] == "succeeded"
    assert stack_redis.zscore(keys.JOBS_DUE, data[5]["job"]["id"]) is not None
    # A non-object item makes the whole body invalid
    api_error(_bulk(api, jobs), 422)


def test_a_thousand_jobs_in_one_request(api: Api, other_tenant: Api) -> None:
    response = _bulk(api, [chat_body(f"bulk {i}") for i in range(1000)])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert {d["status"] for d in data} == {202}
    ids = [d["job"]["id"] for d in data]
    assert len(set(ids)) == 1000
    # They belong to this tenant only, and they run
    assert other_tenant.get(ids[0]).status_code == 404
    for job_id in (ids[0], ids[-1]):
        assert api.wait_final(job_id, timeout=90, callback=False)["status"] == "succeeded"


def test_more_than_a_thousand_or_none_is_422(api: Api) -> None:
    assert "jobs" in api_error(_bulk(api, [chat_body("x")] * 1001), 422)["message"]
    api_error(_bulk(api, []), 422)


def test_bulk_and_schedules_keep_upstream_lanes(api: Api) -> None:
    # Another tenant's (here: nobody's) conversation is refused in bulk and in a schedule,
    # exactly as POST /v1/jobs refuses it (404, not disclosed).
    foreign = agent_job({"inputs": "x", "conversation_id": "conv_nonexistent"})
    data = _bulk(api, [foreign, chat_body("fine")]).json()["data"]
    assert [d["status"] for d in data] == [404, 202]
    assert data[0]["error"]["details"][0]["field"] == "request.conversation_id"
    url = f"{api.url}/v1/schedules"
    scheduled = httpx.post(url, json={"every_seconds": 60, "job": foreign}, headers=api.headers())
    api_error(scheduled, 404)
