"""SSE fan-out: how many subscribers one API process holds on one streaming job, and the
delta latency they see (event appended in Redis → frame received by the subscriber).

Starts its own stack (private redis-server, emulator streaming a chunk every 20 ms, one API
process, one worker); every subscriber is an httpx-sse client on 127.0.0.1. Bounded: each run
ends when its job ends or after ``--run-timeout`` seconds.

    .venv/bin/python bench/sse_fanout.py --subscribers 50 200 500 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import orjson
from httpx_sse import aconnect_sse

from bench.common import Deadline, Row, common_args, percentile, report
from mistral_queue.dev.stack import LocalStack, launch


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _subscribe(client: httpx.AsyncClient, url: str, latencies: list[float]) -> bool:
    """Follow one job's events to the end; True when the final event arrived."""
    async with aconnect_sse(client, "GET", url) as source:
        async for event in source.aiter_sse():
            if not event.data:
                continue
            data = orjson.loads(event.data)
            if event.event == "job.delta":
                latencies.append(time.time() - _epoch(data["time"]))
            if event.event in ("job.succeeded", "job.failed", "job.cancelled"):
                return True
    return False


async def _run(local: LocalStack, subscribers: int, run_timeout: float) -> tuple[int, list[float]]:
    headers = {"Authorization": f"Bearer {local.api_key}"}
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=run_timeout) as client:
        body: dict[str, Any] = {
            "type": "chat",
            "request": {
                "model": "mistral-small-latest",
                "stream": True,
                # Mistral answers after 3 s, so every subscriber is connected before the first
                # delta and only live deltas are measured.
                "messages": [
                    {
                        "role": "user",
                        "content": "fan out [[fault:latency=3000+ok]] " + "word " * 150,
                    }
                ],
            },
        }
        body["request"]["messages"][0]["content"] += str(time.time())  # a fresh fault marker key
        job = (await client.post(f"{local.api.url}/v1/jobs", json=body)).json()
        url = f"{local.api.url}/v1/jobs/{job['id']}/events"
        latencies: list[float] = []
        tasks = [_subscribe(client, url, latencies) for _ in range(subscribers)]
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), run_timeout)
    return sum(1 for ok in done if ok is True), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--run-timeout", type=float, default=60.0)
    common_args(parser, runs=3, timeout=900.0)
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    local = launch(workers=1, emulator_args=["--stream-chunk-delay-ms", "20"])
    rows: list[Row] = []
    try:
        for count in args.subscribers:
            held = Row(f"{count} subscribers: completed streams", f"{count}")
            p50 = Row(f"{count} subscribers: delta latency p50 (ms)", "—", digits=1)
            p99 = Row(f"{count} subscribers: delta latency p99 (ms)", "—", digits=1)
            for _ in range(args.runs):
                deadline.check(f"{count} subscribers")
                ok, latencies = asyncio.run(_run(local, count, args.run_timeout))
                held.ours.append(ok)
                p50.ours.append(percentile(latencies, 50) * 1000)
                p99.ours.append(percentile(latencies, 99) * 1000)
            rows += [held, p50, p99]
    finally:
        local.stop()
    report("sse_fanout", "SSE fan-out: one API process, one streaming job", rows,
           ["latency = frame received − event appended (same host clock)",
            "emulator: one chunk every 20 ms; deltas coalesced per 50 ms / 400 chars"])  # fmt: skip


if __name__ == "__main__":
    main()
