"""Workers killed with SIGKILL mid-run: every job ends, every callback arrives, no job is
answered twice upstream once its answer reached a worker (issue 8 § Worker kill -9)."""

from __future__ import annotations

import threading
import time

import pytest

from mistral_queue.dev.stack import LocalStack
from tests.faults.support import (
    api_of,
    duplicate_successes,
    fault_stack,
    received,
    redis_client,
    submit_many,
    upstream_calls,
    wait_settled,
    webhook_id,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 200
KILLS = 3


def kill_and_restart(stack: LocalStack, kills: list[float], stop: threading.Event) -> None:
    """Three times: wait a little, SIGKILL the oldest worker, start a fresh one."""
    for _ in range(KILLS):
        if stop.wait(1.0):
            return
        victim = stack.workers.pop(0)
        kills.append(time.time())
        victim.kill()
        stack.start_worker(concurrency=4)


def test_sigkilled_workers_lose_nothing_and_repeat_nothing() -> None:
    with fault_stack(workers=2, concurrency=4) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        stack_latency(stack, 300)
        kills: list[float] = []
        stop = threading.Event()
        killer = threading.Thread(target=kill_and_restart, args=(stack, kills, stop))

        # Given 200 chat jobs with callbacks, and a killer that SIGKILLs a worker three times
        killer.start()
        try:
            ids = submit_many(api, (f"kill test {i}" for i in range(JOBS)), stack.receiver.url)
        finally:
            killer.join(60)
            stop.set()
        assert len(kills) == KILLS

        # When the run settles
        final = wait_settled(client, ids, timeout=150)

        # Then every job succeeded and its callback was delivered, with its stable id
        assert {r["status"] for r in final.values()} == {"succeeded"}
        assert {r["callback_status"] for r in final.values()} == {"delivered"}
        delivered = {event["webhook_id"] for event in received(stack)}
        assert {webhook_id(job_id) for job_id in ids} <= delivered
        # And no job was answered upstream again once a worker held its answer
        attempts = {job_id: int(r["attempts"]) for job_id, r in final.items()}
        duplicates = duplicate_successes(upstream_calls(stack), attempts, kills)
        assert duplicates.unexplained == []
        requeued = sum(1 for r in final.values() if "requeues" in r)
        print(f"re-asked after a kill: {len(duplicates.in_flight)}; requeued: {requeued}")


def stack_latency(stack: LocalStack, ms: float) -> None:
    """Give every upstream call ``ms`` milliseconds of latency."""
    import httpx

    response = httpx.post(f"{stack.emulator.url}/_emulator/faults", json={"latency_ms": ms})
    response.raise_for_status()
