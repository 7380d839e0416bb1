"""Bad batch input is refused with the right status, naming the field, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from mistral_queue.dev.stack import LocalStack
from mistral_queue.jobs.ownership import record_file
from tests.helpers import Api, api_error, chat_body, extra_api
from tests.integration.batch_support import batch_body, requests_of, upload_owned

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def small_api(stack: LocalStack) -> Iterator[Api]:
    """A second API process on the same Redis with small batch limits."""
    env = {**stack.env, "MQ_BATCH_MAX_REQUESTS": "10", "MQ_BATCH_MAX_BYTES": "2000"}
    with extra_api(env, "api-small-batches") as small:
        yield small


def _batch_keys(client: redis.Redis) -> set[str]:
    return {str(k) for k in client.scan_iter("mq:job:*:inputs")}


def test_duplicate_custom_ids_are_422(api: Api) -> None:
    requests = requests_of(3)
    requests[2]["custom_id"] = "r0"
    error = api_error(api.post(batch_body(requests)), 422)
    assert error["details"][0]["field"] == "request.requests"
    assert "'r0'" in error["message"] and "unique" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (batch_body([]), "request.requests"),
        (batch_body([{"custom_id": "", "body": {}}]), "request.requests.0.custom_id"),
        (batch_body([{"custom_id": 7, "body": {}}]), "request.requests.0.custom_id"),
        (batch_body([{"body": {}}]), "request.requests.0.custom_id"),
        (batch_body(requests_of(1), mode="later"), "request.mode"),
        (batch_body(requests_of(1), endpoint="/v1/audio/transcriptions"), "request.endpoint"),
        (batch_body(requests_of(1), surprise=1), "request.surprise"),
        (batch_body(), "request"),
        (batch_body(requests_of(1), input_file="abc"), "request"),
        (batch_body(requests_of(1), endpoint="/v1/agents/completions"), "request"),
    ],
)
def test_malformed_batches_are_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    error = api_error(api.post(body), 422)
    assert field in [d["field"] for d in error["details"]], error


def test_too_many_requests_is_413_and_stores_nothing(
    small_api: Api, stack_redis: redis.Redis
) -> None:
    before = _batch_keys(stack_redis)
    error = api_error(small_api.post(batch_body(requests_of(11))), 413)
    assert error["type"] == "too_large"
    assert "10 requests" in error["message"]
    assert _batch_keys(stack_redis) == before


def test_too_many_bytes_is_413_and_stores_nothing(small_api: Api, stack_redis: redis.Redis) -> None:
    before = _batch_keys(stack_redis)
    error = api_error(small_api.post(batch_body(requests_of(5, "x" * 500))), 413)
    assert error["type"] == "too_large"
    assert "2000 bytes" in error["message"]
    assert _batch_keys(stack_redis) == before


def test_an_input_file_over_the_limits_is_413(stack: LocalStack, small_api: Api) -> None:
    file_id = upload_owned(stack, requests_of(11))
    error = api_error(small_api.post(batch_body(input_file=file_id)), 413)
    assert "10 requests" in error["message"]


def test_a_batch_body_above_the_chat_limit_is_accepted(api: Api) -> None:
    # 1.2 MB of requests: above max_body_bytes (1 MiB), below batch_max_bytes
    job = api.submit(batch_body(requests_of(40, "y" * 30_000), mode="direct"))
    assert job["request"]["count"] == 40
    assert api.wait_final(job["id"], timeout=60, callback=False)["status"] == "succeeded"


def test_a_chat_body_above_its_limit_is_still_413(api: Api) -> None:
    assert api_error(api.post(chat_body("x" * 1_100_000)), 413)["type"] == "too_large"


def test_an_unknown_input_file_is_404(api: Api) -> None:
    # No job of the tenant uploaded it: refused before Mistral is asked.
    error = api_error(api.post(batch_body(input_file="no-such-file")), 404)
    assert error["details"][0]["field"] == "request.input_file"


def test_a_file_mistral_no_longer_has_is_422(stack: LocalStack, stack_redis: redis.Redis) -> None:
    record_file(stack_redis, "acme", "gone-file")
    error = api_error(Api(stack.api.url, "key-acme").post(batch_body(input_file="gone-file")), 422)
    assert error["details"][0]["field"] == "request.input_file"
    assert "gone-file" in error["message"]


def test_an_input_file_not_for_batches_is_422(stack: LocalStack, api: Api) -> None:
    file_id = upload_owned(stack, requests_of(2), purpose="fine-tune")
    error = api_error(api.post(batch_body(input_file=file_id)), 422)
    assert "purpose 'batch'" in error["message"]


def test_a_bad_line_in_an_input_file_fails_the_job(stack: LocalStack, api: Api) -> None:
    lines = [*requests_of(2), requests_of(1)[0]]
    file_id = upload_owned(stack, lines)
    job = api.submit(batch_body(input_file=file_id, mode="direct"))
    final = api.wait_final(job["id"], timeout=30, callback=False)
    assert final["status"] == "failed"
    assert final["error"] == {
        "type": "invalid_input",
        "message": "custom_id 'r0' appears more than once",
    }


def test_results_of_other_jobs(api: Api, other_tenant: Api) -> None:
    chat = api.submit(chat_body("not a batch"))
    response = httpx.get(f"{api.url}/v1/jobs/{chat['id']}/results", headers=api.headers())
    assert api_error(response, 409)["type"] == "conflict"
    batch = api.submit(batch_body(requests_of(1), mode="direct"))
    for url, who in [(f"{api.url}/v1/jobs/job_nope/results", api),
                     (f"{api.url}/v1/jobs/{batch['id']}/results", other_tenant)]:  # fmt: skip
        assert api_error(httpx.get(url, headers=who.headers()), 404)["type"] == "not_found"
