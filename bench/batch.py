"""Batch jobs of 10,000 requests in both modes: wall time, peak RSS of API and worker, calls.

Runs our whole stack as local processes (``dev.stack.launch``: private redis-server, emulator,
API, one worker) and, for each mode and run, submits one inline batch of ``--requests``
chat requests, waits for it to end, streams its results back and checks them (count and
input order). Peak RSS is the kernel's high-water mark (VmHWM), reset before each run
through ``/proc/<pid>/clear_refs``, so each run's peak is its own. Upstream calls are the
emulator's log entries whose X-Request-ID names the job.

    .venv/bin/python -m bench.batch --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from rich.table import Table

from bench.common import OUT_DIR, BenchError, Deadline, console, machine_line, rss_mb, spread
from mistral_queue.dev.processes import Proc
from mistral_queue.dev.stack import LocalStack, launch

#: Stack settings: production-like sweep, polls from 0.5 s up to 2 s (the emulator is fast).
ENV = {
    "MQ_SWEEP_INTERVAL": "5",
    "MQ_BATCH_POLL_INITIAL_SECONDS": "0.5",
    "MQ_BATCH_POLL_MAX_SECONDS": "2",
    "MQ_BATCH_MAX_REQUESTS": "100000",
}
#: The emulator runs 100 batch lines per 20 ms step (Mistral takes minutes to hours).
EMULATOR = ["--batch-pace-seconds", "0.02"]
#: About 250 bytes of JSONL per request, like a short classification prompt.
PROMPT = "Classify the sentiment of this review as positive, negative or neutral: " + "great " * 20


@dataclass
class Run:
    """What one batch run measured."""

    intake_s: float
    wall_s: float
    results_s: float
    api_peak_mb: float
    worker_peak_mb: float
    api_before_mb: float
    worker_before_mb: float
    upstream_calls: int


@dataclass
class Side:
    """The runs of one mode."""

    mode: str
    runs: list[Run] = field(default_factory=list)


def batch_body(count: int, mode: str) -> bytes:
    """The POST /v1/jobs body of a ``count``-request chat batch in ``mode``."""
    requests = [
        {"custom_id": f"req-{i}",
         "body": {"messages": [{"role": "user", "content": f"{PROMPT}#{i}"}], "max_tokens": 16}}
        for i in range(count)
    ]  # fmt: skip
    request = {"model": "mistral-small-latest", "mode": mode, "requests": requests}
    return orjson.dumps({"type": "batch", "request": request})


def reset_peak(proc: Proc) -> float:
    """Reset the process's peak RSS to its current RSS; returns that RSS, MiB."""
    Path(f"/proc/{proc.popen.pid}/clear_refs").write_text("5")
    return rss_mb(proc.popen.pid)[0]


def wait_final(client: httpx.Client, job_id: str, deadline: Deadline) -> dict[str, object]:
    """The job once it is final; BenchError past the deadline."""
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        deadline.check(f"waiting for {job_id}")
        time.sleep(0.2)


def check_results(client: httpx.Client, job_id: str, count: int) -> None:
    """Stream the results and check there is one per request, in input order."""
    seen = 0
    with client.stream("GET", f"/v1/jobs/{job_id}/results") as response:
        for line in response.iter_lines():
            if orjson.loads(line)["custom_id"] != f"req-{seen}":
                raise BenchError(f"result {seen} out of order")
            seen += 1
    if seen != count:
        raise BenchError(f"{seen} results for {count} requests")


def upstream_calls(stack: LocalStack, job_id: str) -> int:
    """Calls the emulator logged for the job (then the log is cleared for the next run)."""
    entries = httpx.get(f"{stack.emulator.url}/_emulator/requests", timeout=60).json()["data"]
    httpx.post(f"{stack.emulator.url}/_emulator/reset", timeout=10)
    return sum(1 for e in entries if (e.get("request_id") or "").startswith(job_id + ":"))


def one_run(stack: LocalStack, body: bytes, count: int, deadline: Deadline) -> Run:
    """Submit one batch, wait for it, read its results; measure all of it."""
    worker = stack.workers[0]
    api_before, worker_before = reset_peak(stack.api), reset_peak(worker)
    headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=stack.api.url, headers=headers, timeout=120) as client:
        started = time.perf_counter()
        response = client.post("/v1/jobs", content=body)
        if response.status_code != 202:
            raise BenchError(f"submit: {response.status_code} {response.text[:300]}")
        intake = time.perf_counter() - started
        job_id = response.json()["id"]
        job = wait_final(client, job_id, deadline)
        wall = time.perf_counter() - started
        if job["status"] != "succeeded":
            raise BenchError(f"job {job_id} ended {job['status']}: {job.get('error')}")
        read_started = time.perf_counter()
        check_results(client, job_id, count)
        results_s = time.perf_counter() - read_started
    return Run(
        intake_s=intake,
        wall_s=wall,
        results_s=results_s,
        api_peak_mb=rss_mb(stack.api.popen.pid)[1],
        worker_peak_mb=rss_mb(worker.popen.pid)[1],
        api_before_mb=api_before,
        worker_before_mb=worker_before,
        upstream_calls=upstream_calls(stack, job_id),
    )


def _cell(values: list[float], digits: int) -> str:
    return " / ".join(f"{v:,.{digits}f}" for v in spread(values))


METRICS: list[tuple[str, Callable[[Run], float], int]] = [
    ("wall time, submit → final (s)", lambda r: r.wall_s, 1),
    ("intake, POST → 202 (s)", lambda r: r.intake_s, 2),
    ("results streamed back (s)", lambda r: r.results_s, 2),
    ("API peak RSS (MiB)", lambda r: r.api_peak_mb, 0),
    ("API peak − RSS before (MiB)", lambda r: r.api_peak_mb - r.api_before_mb, 0),
    ("worker peak RSS (MiB)", lambda r: r.worker_peak_mb, 0),
    ("worker peak − RSS before (MiB)", lambda r: r.worker_peak_mb - r.worker_before_mb, 0),
    ("upstream calls", lambda r: r.upstream_calls, 0),
]


def report(sides: list[Side], count: int, body_bytes: int) -> Path:
    """Print the table and write it as Markdown under bench/out."""
    title = f"Batch of {count:,} requests ({body_bytes / 1e6:.1f} MB body), per mode"
    table = Table(title=title, caption="min / median / max over the runs")
    table.add_column("metric")
    for side in sides:
        table.add_column(f"mode {side.mode}", justify="right")
    rows = [[name, *(_cell([fn(r) for r in s.runs], d) for s in sides)] for name, fn, d in METRICS]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    lines = [f"### {title}", "", machine_line(), ""]
    lines += ["| metric | " + " | ".join(f"mode {s.mode}" for s in sides) + " |"]
    lines += ["|---" * (len(sides) + 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"batch-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.md"
    path.write_text("\n".join(lines) + "\n")
    console.print(f"[dim]written to {path}[/dim]")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per batch")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode")
    parser.add_argument("--concurrency", type=int, default=32, help="worker threads")
    parser.add_argument("--timeout", type=float, default=1800, help="bound on everything, s")
    parser.add_argument("--modes", default="api,direct", help="modes to run, comma-separated")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    sides = [Side(mode) for mode in args.modes.split(",")]
    stack = launch(env=ENV, workers=1, concurrency=args.concurrency, emulator_args=EMULATOR)
    try:
        for run in range(args.runs):
            for side in sides:
                body = batch_body(args.requests, side.mode)
                side.runs.append(one_run(stack, body, args.requests, deadline))
                console.print(f"run {run + 1} mode {side.mode}: {side.runs[-1]}")
    finally:
        stack.stop()
    report(sides, args.requests, len(body))
    medians = {s.mode: statistics.median(r.wall_s for r in s.runs) for s in sides}
    console.print(f"median wall time: {medians}")


if __name__ == "__main__":
    main()
