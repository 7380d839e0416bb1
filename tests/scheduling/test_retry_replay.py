"""Retry and replay: a failed or cancelled job runs again under the same id with a fresh
attempt budget, its history kept and a new final callback (new ``webhook-id``)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import redis

from mistral_queue.jobs import keys
from tests.helpers import Api, api_error, chat_body, events, raw_receiver, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _retry(api: Api, job_id: str) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/jobs/{job_id}/retry", headers=api.headers())


def _replay(api: Api, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/jobs/replay", json=body, headers=api.headers())


def _failing(text: str, callback: str | None = None) -> dict[str, object]:
    # The emulator answers 400 to the first call with this body, then succeeds.
    return chat_body(f"{text} {uuid.uuid4().hex} [[fault:400]]", callback)


def test_retry_a_failed_job_runs_it_again_with_a_new_callback(
    api: Api, stack_redis: redis.Redis
) -> None:
    with raw_receiver() as receiver:
        # Given a job that failed (a 400 upstream) and whose job.failed callback was delivered
        # (its second call takes 2 s, so the test sees the retried run before it ends)
        text = f"retry me {uuid.uuid4().hex} [[fault:400,latency=2000+ok]]"
        job = api.submit(chat_body(text, receiver.url))
        failed = api.wait_final(job["id"])
        assert failed["status"] == "failed"
        assert failed["attempts"] == 1
        # When it is retried
        response = _retry(api, job["id"])
        # Then it is queued again under the same id, with no outcome and no attempts yet
        assert response.status_code == 202, response.text
        again = response.json()
        assert (again["id"], again["status"], again["attempts"]) == (job["id"], "queued", 0)
        assert (again["error"], again["finished_at"], again["retries"]) == (None, None, 1)
        assert again["callback"]["status"] == "pending"
        # (its record no longer expires like a finished one's)
        assert stack_redis.ttl(keys.job(job["id"])) == -1
        # And it succeeds, with a second callback of its own webhook-id
        final = api.wait_final(job["id"])
        assert final["status"] == "succeeded"
        assert final["attempts"] == 1
        wait_for(lambda: len(receiver.for_job(job["id"])) == 2, 20, "the second callback")
        hooks = receiver.for_job(job["id"])
    types = [json.loads(c.body)["type"] for c in hooks]
    assert types == ["job.failed", "job.succeeded"]
    ids = [c.headers["webhook-id"] for c in hooks]
    assert ids[0] != ids[1]
    assert ids[1].endswith("_job_succeeded_run2")
    # And its history kept the first run
    log = [e["type"] for e in events(stack_redis, job["id"])]
    assert log.index("job.failed") < log.index("job.retried") < log.index("job.succeeded")


def test_retry_a_cancelled_job(api: Api) -> None:
    job = api.submit({**chat_body("cancel then retry"), "delay_seconds": 30})
    httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
    assert _retry(api, job["id"]).status_code == 202
    assert api.wait_final(job["id"], callback=False)["status"] == "succeeded"


def test_retry_refuses_unfinished_succeeded_and_foreign_jobs(api: Api, other_tenant: Api) -> None:
    done = api.submit(chat_body("fine"))
    api.wait_final(done["id"], callback=False)
    assert "succeeded" in api_error(_retry(api, done["id"]), 409)["message"]
    waiting = api.submit({**chat_body("not yet"), "delay_seconds": 60})
    api_error(_retry(api, waiting["id"]), 409)
    # Another tenant's job does not exist for this key
    failed = other_tenant.submit(_failing("theirs"))
    other_tenant.wait_final(failed["id"], callback=False)
    api_error(_retry(api, failed["id"]), 404)
    api_error(_retry(api, "job_nope"), 404)


def test_replay_retries_matching_jobs_of_this_tenant_only(api: Api, other_tenant: Api) -> None:
    since = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    # Given three failed jobs of this tenant, one succeeded, and one failed job of another
    mine = [api.submit(_failing(f"replay {i}")) for i in range(3)]
    ok = api.submit(chat_body("replay fine"))
    theirs = other_tenant.submit(_failing("replay theirs"))
    for job in [*mine, ok]:
        api.wait_final(job["id"], callback=False)
    other_tenant.wait_final(theirs["id"], callback=False)
    error_type = api.job(mine[0]["id"])["error"]["type"]
    # When the failed ones with that error type created since then are replayed
    body = {"status": "failed", "error_type": error_type, "created_after": since}
    response = _replay(api, body)
    # Then exactly those three run again and succeed; the other tenant's stays failed
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": 3}
    for job in mine:
        assert api.wait_final(job["id"], callback=False)["status"] == "succeeded"
    assert other_tenant.job(theirs["id"])["status"] == "failed"
    # And a replay with another error type, or none left, replays nothing
    assert _replay(api, {**body, "error_type": "nothing_like_it"}).json() == {"replayed": 0}
    assert _replay(api, body).json() == {"replayed": 0}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "succeeded"},
        {"status": "failed", "type": "nope"},
        {"status": "failed", "x": 1},
    ],
)
def test_bad_replay_bodies_are_422(api: Api, body: dict[str, object]) -> None:
    api_error(_replay(api, body), 422)
