"""Delayed jobs across restarts: Redis (AOF) restarted and workers SIGKILLed while jobs are
scheduled; each still runs exactly once, after its due time (issue 17 § Tests)."""

from __future__ import annotations

import time

import pytest

from mistral_queue.jobs import keys
from tests.faults.support import api_of, fault_stack, redis_client, upstream_calls, wait_settled
from tests.helpers import chat_body, events, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _queued_at(client: object, job_id: str) -> float:
    log = events(client, job_id)  # type: ignore[arg-type]
    queued = [e for e in log if e["type"] == "job.queued"]
    assert len(queued) == 1, [e["type"] for e in log]
    return int(queued[0]["id"].split("-")[0]) / 1000


def test_scheduled_jobs_survive_a_redis_restart_and_worker_kills() -> None:
    with fault_stack(aof=True, workers=2, concurrency=4) as stack:
        api = api_of(stack)
        # Given jobs due 4 s and 8 s from now
        soon = api.submit({**chat_body("soon", stack.receiver.url), "delay_seconds": 4})
        later = api.submit({**chat_body("later", stack.receiver.url), "delay_seconds": 8})
        time.sleep(1.2)  # AOF fsyncs every second
        # When Redis is killed and restarted before either is due
        stack.kill_redis()
        time.sleep(1.0)
        stack.restart_redis()
        client = redis_client(stack)
        assert client.zcard(keys.JOBS_DUE) == 2
        # And every worker is SIGKILLed, so the scheduler's leader dies too; a fresh one starts
        for victim in list(stack.workers):
            stack.workers.remove(victim)
            victim.kill()
        stack.start_worker(concurrency=4)
        # Then both run once, after their due times, with their callbacks delivered
        ids = [soon["id"], later["id"]]
        final = wait_settled(client, ids, timeout=90)
        assert {r["status"] for r in final.values()} == {"succeeded"}
        calls = upstream_calls(stack)
        for job in (soon, later):
            due = float(final[job["id"]]["run_ts"])
            assert len(calls[job["id"]]) == 1
            assert _queued_at(client, job["id"]) >= due - 0.01


def test_a_job_due_while_no_worker_runs_is_queued_by_the_next_one() -> None:
    with fault_stack(workers=1, concurrency=2) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given a job due in 1 s and no worker running when it comes due
        for victim in list(stack.workers):
            stack.workers.remove(victim)
            victim.kill()
        job = api.submit({**chat_body("overdue"), "delay_seconds": 1})
        time.sleep(2.0)
        assert client.hget(keys.job(job["id"]), "status") == "scheduled"
        # When a worker starts
        stack.start_worker(concurrency=2)
        ready = time.time()
        # Then it queues the job as soon as it is ready (the dead worker's leader lock has
        # lapsed by then) and the job succeeds
        wait_for(lambda: client.hget(keys.job(job["id"]), "status") != "scheduled", 10, "promotion")
        assert _queued_at(client, job["id"]) - ready < 2.0
        final = wait_settled(client, [job["id"]], timeout=30)[job["id"]]
        assert final["status"] == "succeeded"
