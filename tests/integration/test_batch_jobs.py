"""Batch jobs end to end: mode api (Mistral's Batch API on the emulator) and mode direct."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, emulator_calls, events, raw_receiver, wait_for
from tests.integration.batch_support import (
    batch_body,
    emulator_batch,
    emulator_file_lines,
    progress_events,
    requests_of,
    results,
    upload_owned,
)

pytestmark = pytest.mark.timeout(120)

#: Order in which Mistral's batch statuses may be seen on the way to success.
SUCCESS_PATH = ["QUEUED", "RUNNING", "SUCCESS"]


def _seen_in_order(statuses: list[str], path: list[str]) -> bool:
    ranks = [path.index(s) for s in dict.fromkeys(statuses)]
    return ranks == sorted(ranks)


def test_api_mode_batch_runs_on_mistrals_batch_api(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with raw_receiver() as receiver:
        # Given 20 inline requests in mode api with a callback
        job = api.submit(
            batch_body(requests_of(20, "hello"), mode="api", callback_url=receiver.url)
        )
        assert job["request"] == {
            "endpoint": "/v1/chat/completions",
            "model": "mistral-small-latest",
            "mode": "api",
            "count": 20,
        }

        final = api.wait_final(job["id"], timeout=60)
        time.sleep(1.0)  # a second callback, if any, would come within the sweep's interval
        captured = receiver.for_job(job["id"])

    # Then the job succeeded with Mistral's counters and a link to its results
    assert final["status"] == "succeeded", final["error"]
    summary = final["result"]
    batch_id = summary["mistral_batch_id"]
    assert summary == {
        "total": 20,
        "succeeded": 20,
        "failed": 0,
        "mode": "api",
        "results_url": f"/v1/jobs/{job['id']}/results",
        "mistral_batch_id": batch_id,
    }
    # And the emulator's batch job went QUEUED -> RUNNING -> SUCCESS
    upstream = emulator_batch(stack.emulator.url, batch_id)
    assert upstream["status"] == "SUCCESS"
    assert upstream["started_at"] is not None and upstream["completed_at"] is not None
    assert upstream["metadata"] == {"mq_job_id": job["id"]}
    seen = [p["mistral_status"] for p in progress_events(stack_redis, job["id"])]
    assert seen[0] == "QUEUED" and seen[-1] == "SUCCESS" and _seen_in_order(seen, SUCCESS_PATH)
    # And the results are the emulator's output lines, in input order
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(20)]
    output = emulator_file_lines(stack.emulator.url, upstream["output_file"])
    by_id = {line["custom_id"]: line["response"] for line in output}
    assert all(line["response"] == by_id[line["custom_id"]] for line in lines)
    assert lines[3]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: hello 3"
    # And one signed callback carries the summary, not the results
    assert len(captured) == 1
    payload = Webhook(signing_secret(stack)).verify(captured[0].body, captured[0].headers)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["result"] == summary
    assert "Echo" not in captured[0].body.decode()
    # And the upstream calls were an upload, a create, polls and a download
    paths = [(c["method"], c["path"]) for c in emulator_calls(stack.emulator.url, job["id"])]
    assert paths[:2] == [("POST", "/v1/files"), ("POST", "/v1/batch/jobs")]
    assert ("GET", f"/v1/batch/jobs/{batch_id}") in paths
    assert paths[-1] == ("GET", f"/v1/files/{upstream['output_file']}/content")


def test_direct_mode_retries_and_keeps_a_failed_line(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    # Given 20 requests in mode direct: two fail once with 503, one is refused with 400
    marks = {2: " [[fault:503]]", 7: " [[fault:503,503]]", 11: " [[fault:400]]"}
    with raw_receiver() as receiver:
        job = api.submit(
            batch_body(requests_of(20, "direct", marks), mode="direct", callback_url=receiver.url)
        )
        final = api.wait_final(job["id"], timeout=60)
        time.sleep(1.0)
        captured = receiver.for_job(job["id"])

    # Then the batch succeeded with one failed request
    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["succeeded"] == 19 and final["result"]["failed"] == 1
    assert final["progress"] == {"total": 20, "succeeded": 19, "failed": 1, "mode": "direct"}
    assert progress_events(stack_redis, job["id"])
    # And the 503s were retried, the 400 was not
    calls = emulator_calls(stack.emulator.url, job["id"])
    by_position: dict[str, list[int]] = {}
    for call in calls:
        by_position.setdefault(call["request_id"].split(":")[1], []).append(call["status"])
    assert by_position["2"] == [503, 200]
    assert by_position["7"] == [503, 503, 200]
    assert by_position["11"] == [400]
    assert len(calls) == 23
    # And every request has its line, in order; the refused one carries the error
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(20)]
    assert lines[11]["error"]["status_code"] == 400
    assert lines[11]["error"]["type"] == "request_rejected"
    assert "response" not in lines[11]
    assert lines[2]["response"]["status_code"] == 200
    assert lines[2]["response"]["body"]["object"] == "chat.completion"
    # And one callback was sent
    assert len(captured) == 1
    assert json.loads(captured[0].body)["data"]["result"]["failed"] == 1


@pytest.mark.parametrize("mode", ["api", "direct"])
def test_batch_from_an_uploaded_input_file(stack: LocalStack, api: Api, mode: str) -> None:
    # Given a JSONL file uploaded to Mistral with purpose batch
    file_id = upload_owned(stack, requests_of(5, f"from a file ({mode})"))

    job = api.submit(batch_body(input_file=file_id, mode=mode))
    final = api.wait_final(job["id"], timeout=60, callback=False)

    assert job["request"]["input_file"] == file_id and job["request"]["count"] == 5
    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["succeeded"] == 5
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(5)]
    text = lines[4]["response"]["body"]["choices"][0]["message"]["content"]
    assert text == f"Echo: from a file ({mode}) 4"
    if mode == "api":
        # The file itself was given to Mistral: nothing was uploaded again
        paths = [c["path"] for c in emulator_calls(stack.emulator.url, job["id"])]
        assert "/v1/files" not in paths


def test_cancelling_an_api_batch_cancels_mistrals_batch_job(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    with raw_receiver() as receiver:
        # Given a large api-mode batch that Mistral is running
        job = api.submit(batch_body(requests_of(5000), mode="api", callback_url=receiver.url))
        running = wait_for(
            lambda: [p for p in progress_events(stack_redis, job["id"])
                     if p["mistral_status"] == "RUNNING"],
            30,
            "Mistral's batch job to run",
        )  # fmt: skip
        batch_id = running[0]["mistral_batch_id"]

        # When the job is cancelled
        response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
        assert response.status_code == 200, response.text

        # Then Mistral's batch job is cancelled too, and the job ends cancelled
        upstream = wait_for(
            lambda: (
                (b := emulator_batch(stack.emulator.url, batch_id))["status"] == "CANCELLED" and b
            ),
            30,
            "Mistral's batch job to be cancelled",
        )
        final = api.wait_final(job["id"], timeout=30)
        time.sleep(1.0)
        captured = receiver.for_job(job["id"])

    assert final["status"] == "cancelled"
    assert upstream["completed_requests"] < 5000
    cancels = [c for c in emulator_calls(stack.emulator.url, job["id"])
               if c["path"] == f"/v1/batch/jobs/{batch_id}/cancel"]  # fmt: skip
    assert len(cancels) == 1
    assert [json.loads(c.body)["type"] for c in captured] == ["job.cancelled"]


@pytest.mark.parametrize(
    ("outcome", "error_type", "kept"),
    [("FAILED", "batch_failed", 0), ("TIMEOUT_EXCEEDED", "batch_timeout", 10)],
)
def test_upstream_batch_failure_fails_the_job_and_keeps_partial_results(
    stack: LocalStack, api: Api, stack_redis: redis.Redis, outcome: str, error_type: str, kept: int
) -> None:
    # Given Mistral ends the batch job FAILED, or TIMEOUT_EXCEEDED after half of its lines
    body = batch_body(requests_of(20), mode="api", metadata={"emulator_outcome": outcome})

    job = api.submit(body)
    final = api.wait_final(job["id"], timeout=60, callback=False)

    # Then the job failed with Mistral's status and reasons
    assert final["status"] == "failed"
    error = final["error"]
    assert error["type"] == error_type
    assert outcome in error["message"]
    assert error["details"]["mistral_status"] == outcome
    assert error["details"]["results_url"] == f"/v1/jobs/{job['id']}/results"
    if outcome == "FAILED":
        assert "Emulated batch failure" in error["message"]
    # And the results Mistral had are kept
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(kept)]
    assert error["details"]["succeeded"] == kept
    assert [e["type"] for e in events(stack_redis, job["id"])][-1] == "job.failed"


def test_direct_results_stream_while_the_batch_runs(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    # Given a direct batch whose last request is told to come back in 5 s
    marks = {9: " [[fault:503:retry_after=5]]"}
    job = api.submit(batch_body(requests_of(10, "early", marks), mode="direct"))

    # Then the other results are served while it waits, in order
    def nine() -> list[dict[str, Any]] | None:
        lines = results(api, job["id"])
        return lines if len(lines) == 9 else None

    early = wait_for(nine, 20, "the first nine results")
    assert api.job(job["id"])["status"] == "running"
    assert [line["custom_id"] for line in early] == [f"r{i}" for i in range(9)]
    final = api.wait_final(job["id"], timeout=30, callback=False)
    assert final["status"] == "succeeded"
    assert len(results(api, job["id"])) == 10
    assert [e["type"] for e in events(stack_redis, job["id"])].count("job.succeeded") == 1
