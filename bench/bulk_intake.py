"""Bulk intake (issue 17 §4): jobs/s through one API process with ``POST /v1/jobs/bulk``.

``python -m bench.bulk_intake [--runs 3] [--seconds 10] [--connections 4] [--size 1000]``

Each run posts bulk requests of ``--size`` chat jobs from ``--connections`` concurrent
clients for ``--seconds`` (one API process, no worker), then checks what "accepted" means:
every 202 item left exactly one message with the broker and one record in Redis.
Target: at least 10,000 jobs/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import orjson

from bench import stacks
from bench.common import BenchError, Deadline, Row, common_args, console, percentile, report
from bench.profile import record, summarize
from mistral_queue.broker.names import QUEUES
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobType


async def _client(url: str, headers: dict[str, str], body: bytes, until: float,
                  accepted: list[int], latencies: list[float]) -> None:  # fmt: skip
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        while time.monotonic() < until:
            sent = time.monotonic()
            response = await client.post(f"{url}/v1/jobs/bulk", content=body)
            latencies.append(time.monotonic() - sent)
            if response.status_code != 200:
                raise BenchError(f"bulk answered {response.status_code}: {response.text[:200]}")
            data = orjson.loads(response.content)["data"]
            accepted.append(sum(1 for item in data if item["status"] == 202))


def run_once(
    bench: stacks.Bench, args: argparse.Namespace, profile: bool = False
) -> tuple[float, float, str]:
    """One load run: (jobs/s, p99 request latency in ms, the accepted check); with
    ``profile`` the API process is py-spied during it and the summary printed."""
    bench.ours_client().flushall()
    jobs = [orjson.loads(bench.job_body(callback=False)) for _ in range(args.size)]
    body = orjson.dumps({"jobs": jobs})
    accepted: list[int] = []
    latencies: list[float] = []

    async def load(seconds: float) -> float:
        start = time.monotonic()
        until = start + seconds
        await asyncio.gather(*(_client(bench.ours.api.url, bench.headers(), body, until,
                                       accepted, latencies)
                               for _ in range(args.connections)))  # fmt: skip
        return time.monotonic() - start

    asyncio.run(load(1.0))  # warm-up
    bench.ours_client().flushall()
    accepted.clear()
    latencies.clear()
    pid = bench.ours.api.popen.pid
    recording = record(pid, args.seconds, "bulk-intake-api") if profile else None
    elapsed = asyncio.run(load(args.seconds))
    if recording and (path := recording.wait(args.seconds + 30)):
        console.print(summarize(path))
    client = bench.ours_client()
    queued, stored = int(client.llen(QUEUES[JobType.CHAT])), int(client.zcard(keys.JOBS_WATCH))
    total = sum(accepted)
    check = (
        "ok"
        if total == queued == stored
        else f"{total} accepted, {queued} queued, {stored} records"
    )
    return total / elapsed, percentile(latencies, 99) * 1000, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(parser, runs=3, timeout=600)
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per run")
    parser.add_argument("--connections", type=int, default=4, help="concurrent clients")
    parser.add_argument("--size", type=int, default=1000, help="jobs per bulk request")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    rate = Row("jobs accepted per second", "≥ 10,000")
    p99 = Row(f"bulk request latency p99 (ms, {args.size} jobs)", "—", digits=1)
    checks: list[str] = []
    bench = stacks.start()
    try:
        for run in range(args.runs):
            deadline.check(f"run {run + 1}")
            jobs_s, latency, check = run_once(bench, args, args.profile and run == args.runs - 1)
            console.print(f"run {run + 1}: {jobs_s:,.0f} jobs/s, p99 {latency:.1f} ms, {check}")
            rate.ours.append(jobs_s)
            p99.ours.append(latency)
            checks.append(check)
    finally:
        bench.stop()
    notes = [
        f"{args.connections} concurrent clients, {args.size} chat jobs per request, "
        f"{args.seconds:g} s per run, one API process, no worker",
        f"accepted check (every 202 item is one broker message and one record): {checks}",
    ]
    report("bulk_intake", "Bulk intake: one API process", [rate, p99], notes)


if __name__ == "__main__":
    main()
