"""Upstream storm: 30 % of calls fail with 429/503 and 5 % of connections are reset. Every
job ends (succeeded, or failed with the reason), every attempt is recorded, nothing is stuck
(issue 8 § Upstream storm)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.faults.support import (
    api_of,
    duplicate_successes,
    fault_stack,
    redis_client,
    submit_many,
    upstream_calls,
    wait_settled,
)
from tests.helpers import events

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JOBS = 100
STORM = {
    "error_rate": 0.3,
    "error_statuses": [429, 503],
    "drop_rate": 0.05,
    "seed": 1,
    # Short Retry-After, so the shared rate-limit pause after each 429 stays short.
    "retry_after_seconds": 0.2,
}
MAX_ATTEMPTS = 5


def test_a_storm_ends_every_job_with_its_attempts_recorded() -> None:
    with fault_stack(MQ_MAX_ATTEMPTS=str(MAX_ATTEMPTS)) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        httpx.post(f"{stack.emulator.url}/_emulator/faults", json=STORM).raise_for_status()

        ids = submit_many(api, (f"storm {i}" for i in range(JOBS)), stack.receiver.url)
        final = wait_settled(client, ids, timeout=90)
        calls = upstream_calls(stack)

        # Every job ended, its callback delivered
        assert {r["status"] for r in final.values()} <= {"succeeded", "failed"}
        assert {r["callback_status"] for r in final.values()} == {"delivered"}
        for job_id, record in final.items():
            attempts = int(record["attempts"])
            made = calls[job_id]
            # Each attempt reached upstream once and is counted on the job
            assert attempts == len(made), (job_id, attempts, made)
            assert sorted(c["attempt"] for c in made) == list(range(1, attempts + 1))
            log = [e["type"] for e in events(client, job_id)]
            assert log.count("job.retrying") == attempts - 1
            if record["status"] == "succeeded":
                assert made[-1]["status"] == 200
            else:
                # A failure used the whole budget and says why
                error = json.loads(record["error"])
                assert attempts == MAX_ATTEMPTS
                assert error["type"] and error["message"]
        # And no job was answered twice
        attempts_by_job = {j: int(r["attempts"]) for j, r in final.items()}
        assert duplicate_successes(calls, attempts_by_job, kills=[]).unexplained == []
        storms = sum(1 for job in calls.values() for c in job if c["outcome"] != "ok")
        assert storms > JOBS * 0.2, "the storm did not happen"
