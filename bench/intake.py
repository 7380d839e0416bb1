"""Intake throughput (issue 9 §2): accepted jobs/s and latency of one API process under load.

``python -m bench.intake [--runs 3] [--seconds 10] [--connections 64]``

Each run loads the baseline (``bench.baseline:intake``: plain FastAPI, HSET, blocking
``send_task``) and then ours (``mistral-queue api``; also with the fast publish path off, and
with OpenTelemetry tracing on) with the same chat job body, one uvicorn process each, no worker
running, after a warm-up. Afterwards it checks what "accepted" means:
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
from mistral_queue.broker.names import QUEUES
from mistral_queue.dev.processes import HOST, free_port, start_http
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobType

#: Hard cap on requests per load run (a safety net; runs are bounded by time).
CAP = 200_000


def serve(bench: stacks.Bench, name: str, target: str, env: dict[str, str]) -> str:
    """Serve an ASGI app (``module:attr``, or ``module:factory()``) with one uvicorn process."""
    port = free_port()
    factory = target.endswith("()")
    argv = [sys.executable, "-m", "uvicorn", target.removesuffix("()"), "--host", HOST,
            "--port", str(port), "--no-access-log", "--log-level", "warning",
            *(["--factory"] if factory else [])]  # fmt: skip
    return start_http(bench.ours.stack, name, argv, env, port, "/docs").url


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


#: What each side serves: baseline, ours as shipped, ours publishing with send_task, ours
#: with OpenTelemetry on (every span exported over OTLP/HTTP to the sink).
SIDES = {
    "baseline": "bench.baseline:intake",
    "ours": "",
    "ours, send_task": "bench.variants:send_task_api()",
    "ours, traced": "mistral_queue.api.app:create_app()",
}
METRICS = (("accepted jobs/s", "≥ 1,000; ≥ 3× baseline", 0), ("p50 ms", "—", 1),
           ("p99 ms", "≤ 100", 1))  # fmt: skip


def main() -> None:
    """Parse flags, run every side ``--runs`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    common_args(parser, runs=3, timeout=900)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--load", choices=("wrk", "httpx"), default="wrk")
    args = parser.parse_args()
    args.deadline = Deadline(args.timeout)
    if args.load == "wrk" and not have_wrk():
        console.print("[yellow]wrk not found (apt-get install wrk): using httpx[/yellow]")
        args.load = "httpx"
    bench = stacks.start()
    try:
        values, checks = measure(bench, args)
    finally:
        bench.stop()
    rows = []
    for variant in ("ours", "ours, send_task", "ours, traced"):
        for metric, target, digits in METRICS:
            row = Row(f"{metric} ({variant})", target, digits=digits)
            row.ours, row.baseline = values[variant, metric], values["baseline", metric]
            rows.append(row)
    notes = [
        f"load: {args.load}, {args.connections} connections, {args.seconds:g} s per run "
        f"after {args.warmup:g} s warm-up; one uvicorn process per side; no worker",
        "ours, send_task: the same API with the fast publish path off (bench/variants.py)",
        "ours, traced: the same API with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set (the sink)",
        *(checks or ["every 202 left exactly one message with the broker and one record"]),
    ]
    report("intake", "Intake throughput (issue 9 §2)", rows, notes)
    if checks:
        raise BenchError("; ".join(checks))


def measure(
    bench: stacks.Bench, args: argparse.Namespace
) -> tuple[dict[tuple[str, str], list[float]], list[str]]:
    """Run each side ``--runs`` times; per-run values by (side, metric), and failed checks."""
    urls = {"ours": bench.ours.api.url}
    for side, target in SIDES.items():
        if target:
            env = bench.base_env() if side == "baseline" else bench.ours.env
            if side == "ours, traced":
                env = {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": bench.sink.url + "/v1/traces"}
            urls[side] = serve(bench, side.replace(", ", "-"), target, env)
    values: dict[tuple[str, str], list[float]] = {}
    checks: list[str] = []
    for run in range(args.runs):
        args.deadline.check(f"run {run + 1}")
        for side, url in urls.items():
            baseline = side == "baseline"
            client = bench.base_client() if baseline else bench.ours_client()
            queue = QUEUE if baseline else QUEUES[JobType.CHAT]
            profiling = args.profile and side == "ours" and run == args.runs - 1
            pid = bench.ours.api.popen.pid if profiling else None
            result, check = run_once(url + "/v1/jobs", client, queue, bench.job_body(),
                                     bench.headers(), args, pid)  # fmt: skip
            for metric, value in zip(
                (m for m, _, _ in METRICS), (result.rps, result.p50_ms, result.p99_ms), strict=True
            ):
                values.setdefault((side, metric), []).append(value)
            console.print(f"run {run + 1} {side}: {result.rps:,.0f}/s p50 {result.p50_ms:.1f} "
                          f"p99 {result.p99_ms:.1f} ms, non-202 {result.unexpected}, "
                          f"errors {result.errors}, accepted = queued: {check}")  # fmt: skip
            if check != "ok" or result.errors:
                checks.append(f"run {run + 1} {side}: {check}, {result.errors} socket errors")
    return values, checks


if __name__ == "__main__":
    main()
