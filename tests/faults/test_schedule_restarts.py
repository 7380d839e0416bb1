"""A schedule ticking through a Redis (AOF) restart and SIGKILLed workers, with three workers
competing: every tick makes exactly one job, and missed ticks follow the documented policy
(the first missed one fires once, late; the rest are skipped and counted)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis

from mistral_queue.jobs import keys
from tests.faults.support import api_of, fault_stack, redis_client, wait_settled
from tests.helpers import chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _schedule(api_url: str, key: str, sid: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api_url}/v1/schedules/{sid}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _fired(client: redis.Redis, sid: str) -> list[dict[str, str]]:
    """Every job of the tenant that the schedule created."""
    ids = client.zrange(keys.tenant_jobs("acme"), 0, -1)
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job(str(job_id)), "metadata")
    jobs = []
    for job_id, meta in zip(ids, pipe.execute(), strict=True):
        data = json.loads(meta or "{}")
        if data.get("schedule_id") == sid:
            jobs.append({"id": str(job_id), "scheduled_for": data["scheduled_for"]})
    return jobs


def test_one_job_per_tick_through_restarts() -> None:
    with fault_stack(aof=True, workers=3, concurrency=2) as stack:
        api = api_of(stack)
        headers = api.headers()
        body = {"every_seconds": 1, "job": chat_body("tick", stack.receiver.url)}
        created = httpx.post(f"{api.url}/v1/schedules", json=body, headers=headers)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        created_at = time.time()
        # Given a schedule ticking every second across three workers
        time.sleep(3.5)
        # When Redis is killed and restarted
        stack.kill_redis()
        time.sleep(2.5)
        stack.restart_redis()
        time.sleep(2.5)
        # And every worker is SIGKILLed, then one starts again after some ticks went by
        for victim in list(stack.workers):
            stack.workers.remove(victim)
            victim.kill()
        time.sleep(4.0)
        stack.start_worker(concurrency=2)
        time.sleep(3.0)
        # (a pooled connection that Redis dropped answers 503 once: the client tries again)
        url = f"{api.url}/v1/schedules/{sid}"

        def pause() -> bool:
            answer = httpx.patch(url, json={"paused": True}, headers=headers)
            assert answer.status_code in (200, 503), answer.text
            return answer.status_code == 200

        wait_for(pause, 10, "the pause")
        elapsed = time.time() - created_at
        time.sleep(1.0)
        client = redis_client(stack)
        jobs = _fired(client, sid)
        state = _schedule(api.url, api.key, sid)
        # Then no tick made two jobs, every job ran, and the counts agree
        per_tick = Counter(j["scheduled_for"] for j in jobs)
        assert per_tick and max(per_tick.values()) == 1, per_tick
        assert len(jobs) == state["runs"]
        # And the ticks missed while no worker ran were skipped (and counted), not made up
        assert state["missed_runs"] >= 2
        # and each second's tick was either fired or counted as missed
        assert elapsed - 3 <= len(jobs) + state["missed_runs"] <= elapsed + 1
        final = wait_settled(client, [j["id"] for j in jobs], timeout=90)
        assert {r["status"] for r in final.values()} == {"succeeded"}
