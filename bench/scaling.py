"""Scaling under one global limit (issues 7, 15): 1, 2, 4 worker processes against an emulator
with 200 ms latency that allows R requests in any second, with our limiter set to the same R.

Per configuration: jobs/s, the share of upstream calls answered 429, and the queue wait
(accepted → started) p50 / p99. Target: ≥ 97% of R with ≤ 0.1% of calls answered 429, never
lower with more workers. Traffic stays on 127.0.0.1; each run is bounded.

    .venv/bin/python -m bench.scaling --limit 100 --workers 1 2 4 --runs 3 --jobs 1500
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
import redis

from bench.common import Deadline, Row, common_args, percentile, report
from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.jobs import keys


async def _submit(local: LocalStack, count: int, tag: str) -> list[str]:
    headers = {"Authorization": f"Bearer {local.api_key}"}
    model = "mistral-small-latest"
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> str:
            request = {"model": model, "messages": [{"role": "user", "content": f"{tag} {i}"}]}
            async with gate:
                response = await client.post(
                    f"{local.api.url}/v1/jobs", json={"type": "chat", "request": request}
                )
            job_id: str = response.json()["id"]
            return job_id

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def _times(client: redis.Redis, ids: list[str], deadline: Deadline) -> list[dict[str, Any]]:
    fields = ("status", "created_ts", "started_ts", "finished_ts")
    while True:
        deadline.check("waiting for the jobs")
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(keys.job(job_id), fields)
        rows = [dict(zip(fields, row, strict=True)) for row in pipe.execute()]
        if all(row["finished_ts"] for row in rows):
            return rows
        time.sleep(0.5)


def _run(
    local: LocalStack, workers: int, args: argparse.Namespace, tag: str, deadline: Deadline
) -> tuple[float, float, list[float]]:
    """Queue ``jobs`` with no worker running, then start ``workers`` and time the drain."""
    httpx.post(f"{local.emulator.url}/_emulator/reset")
    jobs = args.jobs
    ids = asyncio.run(_submit(local, jobs, tag))
    for _ in range(workers):
        local.start_worker("--pool", args.pool, concurrency=args.concurrency)
    try:
        client = redis.Redis.from_url(local.redis.url, decode_responses=True)
        rows = _times(client, ids, deadline)
    finally:
        for proc in local.workers:
            proc.stop(timeout=30)
        local.workers.clear()
    started = min(float(r["started_ts"]) for r in rows)
    finished = max(float(r["finished_ts"]) for r in rows)
    # Queue wait counts from when the first worker took a job, not from submission.
    waits = [float(r["started_ts"]) - max(float(r["created_ts"]), started) for r in rows]
    log = httpx.get(
        f"{local.emulator.url}/_emulator/requests", params={"path": "/v1/chat/completions"}
    )
    statuses = [entry["status"] for entry in log.json()["data"]]
    share_429 = statuses.count(429) / max(1, len(statuses))
    return jobs / (finished - started), share_429, waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--pool", default="gevent", help="the workers' pool")
    parser.add_argument("--limit", type=int, default=100, help="R, requests in any second")
    common_args(parser, runs=3, timeout=1500.0)
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    limit = args.limit
    env = {"MQ_RATE_LIMIT_RPS": str(limit), "MQ_SWEEP_INTERVAL": "5"}
    emulator = ["--latency-ms", "200", "--rps-limit", str(limit)]
    local = launch(env=env, workers=0, emulator_args=emulator)
    rows: list[Row] = []
    try:
        for count in args.workers:
            rate = Row(f"{count} worker(s): jobs/s", f"≥ {0.97 * limit:.1f}", digits=1)
            refused = Row(f"{count} worker(s): calls answered 429 (%)", "≤ 0.1", digits=2)
            p50 = Row(f"{count} worker(s): queue wait p50 (s)", "—", digits=2)
            p99 = Row(f"{count} worker(s): queue wait p99 (s)", "—", digits=2)
            for run in range(args.runs):
                deadline.check(f"{count} workers")
                jobs_per_s, share, waits = _run(local, count, args, f"w{count}r{run}", deadline)
                rate.ours.append(jobs_per_s)
                refused.ours.append(share * 100)
                p50.ours.append(percentile(waits, 50))
                p99.ours.append(percentile(waits, 99))
            rows += [rate, refused, p50, p99]
    finally:
        local.stop()
    notes = [
        f"emulator: 200 ms latency, at most {limit} requests in any second; "
        f"our limiter: MQ_RATE_LIMIT_RPS={limit} (no headroom), baseline: the limit itself",
        f"{args.jobs} chat jobs queued before the workers start (so intake is not measured); "
        f"{args.pool} pool, --concurrency {args.concurrency} per worker; queue wait counts "
        "from the first start",
    ]
    report("scaling", f"Scaling under one global rate limit of {limit} req/s", rows, notes)


if __name__ == "__main__":
    main()
