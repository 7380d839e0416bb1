"""Intake throughput (issue 9 §2): accepted jobs/s and latency of one API process under load.

``python -m bench.intake [--runs 3] [--seconds 10] [--connections 64]``

Each run loads the baseline (``bench.baseline:intake``: plain FastAPI, HSET, blocking
``send_task``) and then ours (``mistral-queue api``) with the same chat job body, one uvicorn
process each, no worker running, after a warm-up. Afterwards it checks what "accepted" means:
every 202 left exactly one message with the broker and one record in Redis.
"""

from __future__ import annotations

import argparse
import sys
import time

import redis

from bench import stacks
from bench.baseline import QUEUE
from bench.common import BenchError, Deadline, Row, common_args, console, report
from bench.load import LoadResult, have_wrk, run_load
from bench.profile import record, summarize
from mistral_queue.devstack import HOST, free_port, start_http
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobType
from mistral_queue.jobs.routing import QUEUES

#: Hard cap on requests per load run (a safety net; runs are bounded by time).
CAP = 200_000


def start_baseline_api(bench: stacks.Bench) -> str:
    """Serve ``bench.baseline:intake`` with one uvicorn process; returns its URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline:intake",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = start_http(bench.ours.stack, "baseline-api", argv, bench.base_env(), port, "/docs")
    return proc.url


def records(client: redis.Redis, queue: str) -> int:
    """Job records stored: ours index every job in the watch set; the baseline has job:* keys."""
    if queue == QUEUE:
        return sum(1 for _ in client.scan_iter("job:*", count=1000))
    return int(client.zcard(keys.JOBS_WATCH))


def accepted_check(client: redis.Redis, queue: str, result: LoadResult, connections: int) -> str:
    """Every 202 left a record and a message: ``accepted <= queued == records``.

    wrk stops counting at its deadline with up to one request per connection in flight, which
    the server may still accept, so at most ``connections`` more may be queued than counted.
    """
    queued, stored = int(client.llen(queue)), records(client, queue)
    accepted = result.requests - result.unexpected
    if not accepted <= queued <= accepted + connections or queued != stored:
        return f"{accepted:,} accepted, {queued:,} queued, {stored:,} records"
    return "ok"


def settle(client: redis.Redis, queue: str, deadline: Deadline) -> None:
    """Wait until requests still in flight when the load stopped have finished."""
    last = -1
    while (now := int(client.llen(queue))) != last:
        last = now
        deadline.check("letting the server settle")
        time.sleep(0.5)


def run_once(
    url: str,
    client: redis.Redis,
    queue: str,
    body: bytes,
    headers: dict[str, str],
    args: argparse.Namespace,
    profile_pid: int | None,
) -> tuple[LoadResult, str]:
    """A warm-up, a flush, then the measured load run (py-spied when ``profile_pid``)."""
    run_load(
        url,
        body,
        headers,
        connections=args.connections,
        seconds=args.warmup,
        cap=CAP,
        tool=args.load,
    )
    settle(client, queue, args.deadline)
    client.flushall()
    recording = record(profile_pid, args.seconds, "intake-api") if profile_pid else None
    result = run_load(
        url,
        body,
        headers,
        connections=args.connections,
        seconds=args.seconds,
        cap=CAP,
        tool=args.load,
    )
    settle(client, queue, args.deadline)
    if recording and (path := recording.wait(args.seconds + 30)):
        console.print(summarize(path))
    return result, accepted_check(client, queue, result, args.connections)


def main() -> None:
    """Parse flags, run both sides ``--runs`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    common_args(parser, runs=3, timeout=900)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--load", choices=("wrk", "httpx"), default="wrk")
    args = parser.parse_args()
    deadline = args.deadline = Deadline(args.timeout)
    if args.load == "wrk" and not have_wrk():
        console.print("[yellow]wrk not found (apt-get install wrk): using httpx[/yellow]")
        args.load = "httpx"
    rows = {
        k: Row(k, t, digits=d)
        for k, t, d in (
            ("accepted jobs/s", "≥ 1,000 and ≥ 3× baseline", 0),
            ("p50 ms", "—", 1),
            ("p99 ms", "≤ 100", 1),
        )
    }
    checks: list[str] = []
    bench = stacks.start()
    try:
        base_url = start_baseline_api(bench)
        ours_url = bench.ours.api.url
        for run in range(args.runs):
            deadline.check(f"run {run + 1}")
            sides = (
                ("baseline", base_url, bench.base_client(), QUEUE, bench.job_body()),
                ("ours", ours_url, bench.ours_client(), QUEUES[JobType.CHAT], bench.job_body()),
            )
            for side, url, client, queue, body in sides:
                profiling = args.profile and side == "ours" and run == args.runs - 1
                pid = bench.ours.api.popen.pid if profiling else None
                result, check = run_once(
                    url + "/v1/jobs", client, queue, body, bench.headers(), args, pid
                )
                for key, value in (
                    ("accepted jobs/s", result.rps),
                    ("p50 ms", result.p50_ms),
                    ("p99 ms", result.p99_ms),
                ):
                    getattr(rows[key], side).append(value)
                console.print(
                    f"run {run + 1} {side}: {result.rps:,.0f}/s p50 {result.p50_ms:.1f} "
                    f"p99 {result.p99_ms:.1f} ms, non-202 {result.unexpected}, "
                    f"errors {result.errors}, accepted = queued: {check}"
                )
                if check != "ok" or result.errors:
                    checks.append(f"run {run + 1} {side}: {check}, {result.errors} socket errors")
    finally:
        bench.stop()
    notes = [
        f"load: {args.load}, {args.connections} connections, {args.seconds:g} s per run "
        f"after {args.warmup:g} s warm-up; one uvicorn process per side; no worker",
        *(checks or ["every 202 left exactly one message with the broker"]),
    ]
    report("intake", "Intake throughput (issue 9 §2)", list(rows.values()), notes)
    if checks:
        raise BenchError("; ".join(checks))


if __name__ == "__main__":
    main()
