"""What the fault tests share: a stack per test, bulk submission and the checks on the outcome.

Each test starts its own deployment (``launch``) because it kills parts of it. The checks read
the ground truth from three independent places: the job records in Redis, the emulator's
request log (what upstream saw) and the receiver's log (what callbacks arrived).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from mistral_queue.dev.processes import Proc
from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.jobs import keys
from tests.helpers import Api, chat_body

API_KEY = "key-acme"

#: Short schedules, so every recovery path runs within seconds.
FAULT_ENV = {
    "MQ_API_KEYS": f"{API_KEY}:acme",
    "MQ_CALLBACK_RETRY_DELAYS": "0.5,1,2,4,8",
    "MQ_CALLBACK_TIMEOUT": "3",
    "MQ_CALLBACK_REQUEUE_AFTER_SECONDS": "2",
    "MQ_RETRY_BASE_DELAY": "0.05",
    "MQ_RETRY_MAX_DELAY": "0.5",
    "MQ_INLINE_RETRY_MAX_WAIT": "0.5",
    "MQ_MAX_ATTEMPTS": "5",
    "MQ_SWEEP_INTERVAL": "0.5",
    "MQ_REQUEUE_AFTER_SECONDS": "4",
    "MQ_LEASE_SECONDS": "2",
    "MQ_STORE_RETRY_SECONDS": "30",
    "MQ_SHUTDOWN_GRACE_SECONDS": "5",
    # A touchy watchdog, so every fault test also shows it never mistakes a fault for a stall.
    "MQ_CONSUMER_STALL_SECONDS": "8",
}

FINAL = {"succeeded", "failed", "cancelled"}


@contextmanager
def fault_stack(
    *, workers: int = 2, concurrency: int = 8, aof: bool = False, **env: str
) -> Iterator[LocalStack]:
    """A private deployment with the fault-test settings (plus ``env``), stopped afterwards."""
    local = launch(env={**FAULT_ENV, **env}, workers=workers, concurrency=concurrency, aof=aof)
    try:
        yield local
        stalled = [p.name for p in local.stack.procs if "consumer stalled" in log_of(p)]
        assert not stalled, f"the watchdog took a fault for a stall in {stalled}"
        # A fault must never take a worker down with it (only the test's own kills may).
        dead = [w.name for w in local.workers if not w.alive()]
        assert not dead, f"worker(s) {dead} exited: {[w.log_tail() for w in local.workers]}"
    finally:
        local.stop()


def log_of(proc: Proc) -> str:
    """Everything a started process wrote."""
    return proc.log_path.read_text(errors="replace")


def api_of(stack: LocalStack) -> Api:
    """The stack's API as tenant ``acme``."""
    return Api(stack.api.url, API_KEY)


def submit_many(api: Api, texts: Iterable[str], callback_url: str | None) -> list[str]:
    """Submit one chat job per text (8 at a time); every one must be accepted (202)."""

    def one(text: str) -> str:
        job_id: str = api.submit(chat_body(text, callback_url))["id"]
        return job_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, texts))


def records(client: redis.Redis, job_ids: list[str]) -> dict[str, dict[str, str]]:
    """Each job's stored hash (decoded), read in one pipeline."""
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hgetall(keys.job(job_id))
    return dict(zip(job_ids, pipe.execute(), strict=True))


def settled(record: dict[str, str]) -> bool:
    """Final, and its callback (if any) delivered or given up."""
    callback_done = "callback_url" not in record or record.get("callback_status") in (
        "delivered",
        "failed",
    )
    return record.get("status") in FINAL and callback_done


def wait_settled(
    client: redis.Redis, job_ids: list[str], timeout: float
) -> dict[str, dict[str, str]]:
    """Poll until every job is settled; fail naming the stragglers after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(client, job_ids)
        late = {
            j: (r.get("status"), r.get("callback_status"))
            for j, r in found.items()
            if not settled(r)
        }
        if not late:
            return found
        if time.monotonic() > deadline:
            sample = dict(list(late.items())[:10])
            raise AssertionError(f"{len(late)} job(s) not settled after {timeout} s: {sample}")
        time.sleep(0.25)


def redis_client(stack: LocalStack) -> redis.Redis:
    """A client of the stack's Redis, decoding responses."""
    return redis.Redis.from_url(stack.redis.url, decode_responses=True)


def upstream_calls(stack: LocalStack) -> dict[str, list[dict[str, Any]]]:
    """The emulator's request log grouped by job id (the X-Request-ID is ``<job>:<attempt>``)."""
    entries = httpx.get(f"{stack.emulator.url}/_emulator/requests", timeout=10).json()["data"]
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        job_id, _, attempt = (entry.get("request_id") or "").rpartition(":")
        if job_id:
            calls[job_id].append({**entry, "attempt": int(attempt)})
    return calls


def received(stack: LocalStack) -> list[dict[str, Any]]:
    """Callbacks the stack's receiver accepted (signature verified), oldest first."""
    events: list[dict[str, Any]] = httpx.get(
        f"{stack.receiver.url}/_receiver/events", timeout=10
    ).json()["events"]
    return events


def webhook_id(job_id: str, event: str = "job.succeeded") -> str:
    """The stable webhook-id of a job's final callback (signing.event_id)."""
    return f"msg_{job_id[4:]}_{event.replace('.', '_')}"


@dataclass(frozen=True)
class Duplicates:
    """Successful upstream calls of one job beyond the one whose answer was recorded.

    ``in_flight`` ones were still being answered when a worker was killed (the worker never
    got the answer, so asking again was right); ``unexplained`` ones break the guarantee.
    """

    in_flight: list[str]
    unexplained: list[str]


def duplicate_successes(
    calls: dict[str, list[dict[str, Any]]],
    attempts: dict[str, int],
    kills: list[float],
    window: float = 0.25,
) -> Duplicates:
    """Classify every successful upstream call that is not the job's recorded one.

    The recorded answer is the job's last attempt (``attempts``): after it, no call may be
    made at all. An earlier call that succeeded is explained only if a worker was killed
    while the emulator answered it (within ``window`` seconds after it finished: the answer
    was still on its way into the worker's memory).
    """
    in_flight: list[str] = []
    unexplained: list[str] = []
    for job_id, entries in calls.items():
        last = attempts.get(job_id, 0)
        for entry in entries:
            if entry["attempt"] > last:
                unexplained.append(f"{entry['request_id']} after the recorded attempt {last}")
                continue
            if entry["outcome"] != "ok" or entry["attempt"] == last:
                continue
            end = entry["time"] + entry["duration_ms"] / 1000
            if any(entry["time"] <= kill <= end + window for kill in kills):
                in_flight.append(entry["request_id"])
            else:
                unexplained.append(f"{entry['request_id']} succeeded before attempt {last}")
    return Duplicates(in_flight, unexplained)
