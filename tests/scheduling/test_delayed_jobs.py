"""Delayed jobs (``run_at`` / ``delay_seconds``): scheduled until due, then run; cancellable."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from mistral_queue.jobs import keys
from tests.helpers import Api, api_error, chat_body, emulator_calls, events, raw_receiver, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_a_delayed_job_is_scheduled_then_runs_once_due(
    api: Api, stack_redis: redis.Redis, stack: object
) -> None:
    # Given a job accepted to run 1.5 s from now
    accepted_at = time.time()
    job = api.submit({**chat_body("later"), "delay_seconds": 1.5})
    # Then it is scheduled, with its due time, in the due set and not with the broker
    assert job["status"] == "scheduled"
    due = datetime.fromisoformat(job["run_at"].replace("Z", "+00:00")).timestamp()
    assert accepted_at + 1.4 < due < time.time() + 1.6
    assert stack_redis.zscore(keys.JOBS_DUE, job["id"]) == pytest.approx(due, abs=0.01)
    time.sleep(0.5)
    assert api.job(job["id"])["status"] == "scheduled"
    # When its time comes, it runs and succeeds
    final = api.wait_final(job["id"], callback=False)
    assert final["status"] == "succeeded"
    log = events(stack_redis, job["id"])
    assert [e["type"] for e in log[:3]] == ["job.scheduled", "job.queued", "job.started"]
    # And it was queued no earlier than due and within a second of it
    queued_ms = int(log[1]["id"].split("-")[0])
    assert due - 0.01 <= queued_ms / 1000 < due + 1.0
    assert stack_redis.zscore(keys.JOBS_DUE, job["id"]) is None


def test_run_at_in_rfc3339(api: Api) -> None:
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    job = api.submit({**chat_body("at a time"), "run_at": _rfc3339(run_at)})
    assert job["status"] == "scheduled"
    assert api.wait_final(job["id"], callback=False)["status"] == "succeeded"


def test_a_run_at_in_the_past_runs_at_once(api: Api) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    job = api.submit({**chat_body("overdue"), "run_at": _rfc3339(past)})
    assert job["status"] == "queued"
    assert job["run_at"] is None


def test_cancel_a_scheduled_job(api: Api, stack: object, stack_redis: redis.Redis) -> None:
    with raw_receiver() as receiver:
        # Given a job scheduled 2 s out
        job = api.submit({**chat_body("never", receiver.url), "delay_seconds": 2})
        # When it is cancelled before it is due
        response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        callbacks = wait_for(lambda: receiver.for_job(job["id"]), 20, "the cancel callback")
        # Then its due time passes without it ever running
        time.sleep(2.5)
    final = api.job(job["id"])
    assert final["status"] == "cancelled"
    assert final["attempts"] == 0
    assert json.loads(callbacks[0].body)["type"] == "job.cancelled"
    assert emulator_calls(stack.emulator.url, job["id"]) == []  # type: ignore[attr-defined]
    assert stack_redis.zscore(keys.JOBS_DUE, job["id"]) is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}, "run_at or delay_seconds"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"delay_seconds": 10**9}, "delay_seconds"),
        ({"run_at": "2030-01-01T00:00:00"}, "run_at"),
        ({"run_at": "tomorrow"}, "run_at"),
    ],
)
def test_bad_start_times_are_422(api: Api, extra: dict[str, object], field: str) -> None:
    error = api_error(api.post({**chat_body("bad time"), **extra}), 422)
    assert field in error["message"]
