"""Redis (with AOF) killed and restarted mid-run: no accepted job is lost, the API answers
503 while Redis is down and 202 again once it is back, workers keep consuming
(issue 8 § Redis restart)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from mistral_queue.jobs import keys
from tests.faults.support import api_of, fault_stack, redis_client, upstream_calls, wait_settled
from tests.helpers import chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

#: Seconds of load before the crash, of outage, and of load after the restart.
BEFORE, DOWN, AFTER = 2.0, 3.0, 3.0


@dataclass(frozen=True)
class Answer:
    """One POST /v1/jobs: when it was sent and answered, its status and the job id if any."""

    sent: float
    answered: float
    status: int
    job_id: str | None


def submit_until(url: str, key: str, callback: str, stop: threading.Event) -> list[Answer]:
    """POST chat jobs one after another (with a short pause) until ``stop`` is set."""
    answers: list[Answer] = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=20) as client:
        while not stop.is_set():
            sent = time.time()
            response = client.post(f"{url}/v1/jobs", json=chat_body("redis restart", callback))
            job_id = response.json().get("id") if response.status_code == 202 else None
            answers.append(Answer(sent, time.time(), response.status_code, job_id))
            stop.wait(0.03)
    return answers


def test_a_redis_restart_loses_no_accepted_job() -> None:
    with fault_stack(aof=True) as stack:
        api = api_of(stack)
        stop = threading.Event()
        answers: list[Answer] = []
        submitter = threading.Thread(
            target=lambda: answers.extend(submit_until(api.url, api.key, stack.receiver.url, stop))
        )
        # Given jobs flowing in, when Redis is killed, stays down, and comes back
        submitter.start()
        try:
            time.sleep(BEFORE)
            down_at = time.time()
            stack.kill_redis()
            time.sleep(DOWN)
            stack.restart_redis()
            up_at = time.time()
            time.sleep(AFTER)
        finally:
            stop.set()
            submitter.join(30)

        # Then the API answered 503 while Redis was down, never 500, and 202 before and after
        statuses = {a.status for a in answers}
        assert statuses <= {202, 503}, sorted(statuses)
        during = [a.status for a in answers if a.sent > down_at and a.answered < up_at]
        assert during and set(during) == {503}
        assert any(a.status == 202 and a.sent > up_at for a in answers), "the API did not recover"
        # And every accepted job ran to the end with its callback: none was lost
        accepted = [a.job_id for a in answers if a.job_id]
        final = wait_settled(redis_client(stack), accepted, timeout=90)
        assert {r["status"] for r in final.values()} == {"succeeded"}
        assert {r["callback_status"] for r in final.values()} == {"delivered"}
        print(f"accepted {len(accepted)}, refused {len(answers) - len(accepted)} while down")


def test_an_answer_that_arrives_while_redis_is_down_is_kept() -> None:
    with fault_stack(aof=True, workers=1, concurrency=2) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given a job whose upstream call takes 2.5 s
        job_id = api.submit(chat_body("answer in the dark [[fault:latency=2500]]"))["id"]
        wait_for(lambda: client.exists(keys.job_lease(job_id)), 10, "the call to start")

        # When Redis dies during the call and comes back only after the answer arrived
        stack.kill_redis()
        time.sleep(3.5)
        stack.restart_redis()

        # Then the worker kept the answer and recorded it: one upstream call, job succeeded
        client = redis_client(stack)
        final = wait_settled(client, [job_id], timeout=60)[job_id]
        assert final["status"] == "succeeded"
        assert len(upstream_calls(stack)[job_id]) == 1
