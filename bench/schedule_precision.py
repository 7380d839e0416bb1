"""Schedule precision (issue 17 §Tests and bench): how late recurring ticks and delayed jobs fire.

``python -m bench.schedule_precision [--runs 3] [--seconds 20] [--schedules 20] [--workers 2]``

Each run starts a local stack with ``--workers`` worker processes (each runs a scheduler;
one leads), creates ``--schedules`` schedules firing every second and as many delayed jobs
due across the run, then reads the lateness of every firing from Redis: a tick's job's
``created_ts`` minus its ``metadata.scheduled_for``; a delayed job's ``job.queued`` event
time minus its ``run_ts``. It also checks that no tick made two jobs.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime

import httpx
import orjson
import redis

from bench.baseline import CHAT_REQUEST
from bench.common import Deadline, Row, common_args, console, percentile, report
from mistral_queue.dev.stack import launch
from mistral_queue.jobs import fields, keys


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _lateness(client: redis.Redis) -> tuple[list[float], list[float], int]:
    """(tick lateness s, delayed-job lateness s, ticks made twice) of every job in Redis."""
    ticks: list[float] = []
    delayed: list[float] = []
    seen: Counter[tuple[str, str]] = Counter()
    ids = [str(i) for i in client.zrange(keys.tenant_jobs("bench"), 0, -1)]
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(keys.job(job_id), fields.METADATA, fields.CREATED_TS, fields.RUN_TS)
    for job_id, (meta, created, run_ts) in zip(ids, pipe.execute(), strict=True):
        metadata = orjson.loads(meta or "{}")
        if "schedule_id" in metadata:
            seen[(metadata["schedule_id"], metadata["scheduled_for"])] += 1
            ticks.append(float(created) - _ts(metadata["scheduled_for"]))
        elif run_ts:
            log: list[tuple[str, dict[str, str]]] = client.xrange(keys.job_events(job_id))  # type: ignore[assignment]
            queued = [e for _, e in log if e["type"] == "job.queued"]
            if queued:
                delayed.append(_ts(queued[0]["time"]) - float(run_ts))
    return ticks, delayed, sum(1 for n in seen.values() if n > 1)


def run_once(args: argparse.Namespace) -> tuple[list[float], list[float], int]:
    """One run on a fresh stack; returns the lateness samples and the double ticks."""
    local = launch(env={"MQ_API_KEYS": "key-bench:bench"}, workers=args.workers, concurrency=8)
    try:
        headers = {"Authorization": "Bearer key-bench"}
        job = {"type": "chat", "request": CHAT_REQUEST}
        with httpx.Client(base_url=local.api.url, headers=headers, timeout=30) as client:
            made = [client.post("/v1/schedules", json={"every_seconds": 1, "job": job}).json()["id"]
                    for _ in range(args.schedules)]  # fmt: skip
            for i in range(args.schedules):
                delay = args.seconds * (i + 1) / (args.schedules + 1)
                client.post("/v1/jobs", json={**job, "delay_seconds": delay}).raise_for_status()
            time.sleep(args.seconds)
            for sid in made:
                client.patch(f"/v1/schedules/{sid}", json={"paused": True})
        time.sleep(2.0)
        return _lateness(redis.Redis.from_url(local.redis.url, decode_responses=True))
    finally:
        local.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(parser, runs=3, timeout=900)
    parser.add_argument("--seconds", type=float, default=20.0, help="ticking time per run")
    parser.add_argument("--schedules", type=int, default=20, help="schedules (every 1 s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    rows = {
        "ticks": Row("tick firings per run", "—"),
        "p50": Row("tick lateness p50 (ms)", "—", digits=1),
        "p99": Row("tick lateness p99 (ms)", "< 1,000", digits=1),
        "double": Row("ticks that made two jobs", "0"),
        "d50": Row("delayed job lateness p50 (ms)", "—", digits=1),
        "d99": Row("delayed job lateness p99 (ms)", "< 1,000", digits=1),
    }
    for run in range(args.runs):
        deadline.check(f"run {run + 1}")
        ticks, delayed, double = run_once(args)
        console.print(f"run {run + 1}: {len(ticks)} ticks, {len(delayed)} delayed jobs")
        rows["ticks"].ours.append(len(ticks))
        rows["p50"].ours.append(percentile(ticks, 50) * 1000)
        rows["p99"].ours.append(percentile(ticks, 99) * 1000)
        rows["double"].ours.append(double)
        rows["d50"].ours.append(percentile(delayed, 50) * 1000)
        rows["d99"].ours.append(percentile(delayed, 99) * 1000)
    notes = [
        f"{args.schedules} schedules every 1 s and {args.schedules} delayed jobs, "
        f"{args.seconds:g} s per run, {args.workers} workers, MQ_SCHEDULER_INTERVAL 0.2 s",
        "lateness = job created (tick) or queued (delayed job) minus its due time",
    ]
    report("schedule_precision", "Schedule precision", list(rows.values()), notes)


if __name__ == "__main__":
    main()
