"""Worker I/O concurrency (issue 9 §3): jobs/s of ONE worker process against a slow upstream.

``python -m bench.worker_io [--runs 3] [--jobs 2000] [--latency-ms 200] [--concurrency 64,128]``
``python -m bench.worker_io --pool gevent --concurrency 1000 --baseline-concurrency 1000
--latency-ms 4000`` (issue 15: both sides on Celery's gevent pool)

The emulator adds ``--latency-ms`` to every call. Each run first drains the baseline (a bare
Celery threads-pool worker whose task makes one httpx call to the emulator), then, for each
``--concurrency``, ours: ``--jobs`` chat jobs are submitted through our API with no worker
running, one ``mistral-queue worker`` is started, and the clock runs from the first message
taken until the sink has every job's callback. Worker CPU per job and peak RSS come from /proc.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bench import stacks
from bench.baseline import QUEUE, celery_app
from bench.common import Deadline, Row, common_args, console, cpu_seconds, report, rss_mb
from bench.load import fill
from bench.profile import Recording, record, summarize
from mistral_queue.broker.names import QUEUES
from mistral_queue.jobs.model import JobType


@dataclass
class Drained:
    """One drain: rate, worker CPU per job and peak RSS."""

    rate: float
    cpu_ms: float
    rss_mb: float


def drain_baseline(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline) -> Drained:
    """Publish ``--jobs`` bare chat tasks, then drain them with one plain Celery worker."""
    celery_app.conf.broker_url = bench.base_redis.url  # type: ignore[misc]
    for index in range(args.jobs):
        celery_app.send_task("bench.chat", args=[f"base_{index}"], queue=QUEUE)
    stacks.start_baseline(bench, 1, args.pool, args.baseline_concurrency, args.loglevel)
    client = bench.base_client()
    return _measure(bench, args, deadline, client, QUEUE, stacks.celery_idle(client, QUEUE))


def drain_ours(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline,
               concurrency: int, profile: bool) -> Drained:  # fmt: skip
    """Submit ``--jobs`` chat jobs through our API, then drain them with one of our workers."""
    fill(bench.ours.api.url + "/v1/jobs", lambda _: bench.job_body(), bench.headers(), args.jobs,
         deadline)  # fmt: skip
    stacks.start_ours(bench, 1, args.pool, concurrency, args.loglevel)
    queue = QUEUES[JobType.CHAT]
    client = bench.ours_client()
    done = lambda: bench.sink_jobs() >= args.jobs  # noqa: E731
    return _measure(bench, args, deadline, client, queue, done, poll=0.02, profile=profile)


def _measure(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline,
             client: redis.Redis, queue: str, done: Callable[[], bool], poll: float = 0.005,
             profile: bool = False) -> Drained:  # fmt: skip
    pid = bench.workers[0].popen.pid
    before = cpu_seconds(pid)
    recordings: list[Recording | None] = []

    def begin_profile() -> None:
        # Past the worker's start-up, which the clock does not count either.
        if profile:
            time.sleep(2)
            recordings.append(record(pid, 10, "worker-io", gil=True))

    seconds = stacks.drain(client, queue, args.jobs, done, deadline, bench.workers, poll,
                           begin_profile)  # fmt: skip
    recording = recordings[0] if recordings else None
    cpu = cpu_seconds(pid) - before
    _, peak = rss_mb(pid)
    if recording and (path := recording.wait(60)):
        console.print(summarize(path))
    bench.reset()
    return Drained(args.jobs / seconds, 1000 * cpu / args.jobs, peak)


def main() -> None:
    """Parse flags, run both sides ``--runs`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    common_args(parser, runs=3, timeout=1800)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per drain")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="emulator latency")
    parser.add_argument("--concurrency", default="64,128", help="our worker's threads (list)")
    parser.add_argument("--baseline-concurrency", type=int, default=128)
    parser.add_argument("--loglevel", default="INFO", help="both workers' log level")
    parser.add_argument("--pool", default="threads", help="both workers' pool (threads, gevent)")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: dict[str, Row] = {}
    for c in levels:
        rows[f"rate{c}"] = Row(f"jobs/s, {args.pool} {c}", "≥ 200", digits=0)
        rows[f"cpu{c}"] = Row(f"worker CPU ms/job, {args.pool} {c}", "—", digits=1)
        rows[f"rss{c}"] = Row(f"worker peak RSS MiB, {args.pool} {c}", "≤ 300", digits=0)
    bench = stacks.start(args.latency_ms)
    try:
        for run in range(args.runs):
            deadline.check(f"run {run + 1}")
            base = drain_baseline(bench, args, deadline)
            console.print(f"run {run + 1} baseline: {base.rate:.0f}/s, {base.cpu_ms:.1f} ms CPU")
            for c in levels:
                profile = args.profile and run == args.runs - 1 and c == levels[-1]
                ours = drain_ours(bench, args, deadline, c, profile)
                console.print(f"run {run + 1} ours {args.pool} {c}: {ours.rate:.0f}/s, "
                              f"{ours.cpu_ms:.1f} ms CPU, {ours.rss_mb:.0f} MiB")  # fmt: skip
                for key, mine, theirs in (("rate", ours.rate, base.rate),
                                          ("cpu", ours.cpu_ms, base.cpu_ms),
                                          ("rss", ours.rss_mb, base.rss_mb)):  # fmt: skip
                    rows[f"{key}{c}"].ours.append(mine)
                    rows[f"{key}{c}"].baseline.append(theirs)
    finally:
        bench.stop()
    notes = [
        f"{args.jobs} jobs per drain, emulator latency {args.latency_ms:g} ms, one worker "
        f"process, log level {args.loglevel}; baseline: plain Celery {args.pool} "
        f"{args.baseline_concurrency}, per-thread httpx client (one per process when green), "
        "one upstream call, no callback",
        "ours: each job is one chat task (lease, record, attempt, upstream call, result, then "
        "the callback's first signed POST to the sink, recorded); done when the sink has "
        "every job",
    ]
    report("worker_io", "Worker I/O concurrency (issue 9 §3)", list(rows.values()), notes)


if __name__ == "__main__":
    main()
