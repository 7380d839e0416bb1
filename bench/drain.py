"""Drain (issue 9 §5): chat jobs with callbacks through 2 worker processes, zero-latency upstream,
against the raw Celery no-op drain with the same processes and pool in the same run.

``python -m bench.drain [--runs 3] [--jobs 10000] [--workers 2] [--concurrency 16]``

Baseline: ``--jobs`` ``bench.noop`` tasks are published, then ``--workers`` plain Celery workers
start together; the clock runs from the first message taken until the queue is empty and
nothing is un-acked (perf-baseline.md §Method). Ours: ``--jobs`` chat jobs are submitted through
our API, ``--workers`` of our workers start together, and the clock runs from the first message
taken until the sink has every job's callback.
"""

from __future__ import annotations

import argparse

from bench import stacks
from bench.baseline import QUEUE, celery_app
from bench.common import Deadline, Row, common_args, console, cpu_seconds, report
from bench.load import fill
from bench.profile import Recording, record, summarize
from mistral_queue.broker.names import QUEUES
from mistral_queue.jobs.model import JobType


def timed(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline, ours: bool,
          profile: bool) -> tuple[float, float]:  # fmt: skip
    """Drain what is queued with the started workers: (jobs/s, worker CPU ms per job)."""
    pids = [proc.popen.pid for proc in bench.workers]
    before = sum(cpu_seconds(pid) for pid in pids)
    recordings: list[Recording | None] = []

    def begin_profile() -> None:
        if profile:
            recordings.append(record(pids[0], 10, "drain-worker", gil=True))

    if ours:
        client, queue = bench.ours_client(), QUEUES[JobType.CHAT]
        done = lambda: bench.sink_jobs() >= args.jobs  # noqa: E731
        poll = 0.05
    else:
        client, queue = bench.base_client(), QUEUE
        done, poll = stacks.celery_idle(client, QUEUE), 0.005
    seconds = stacks.drain(client, queue, args.jobs, done, deadline, bench.workers, poll,
                           begin_profile)  # fmt: skip
    cpu = sum(cpu_seconds(pid) for pid in pids) - before
    if recordings and recordings[0] and (path := recordings[0].wait(60)):
        console.print(summarize(path))
    bench.reset()
    return args.jobs / seconds, 1000 * cpu / args.jobs


def drain_noop(
    bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline
) -> tuple[float, float]:
    """The raw Celery no-op drain."""
    celery_app.conf.broker_url = bench.base_redis.url  # type: ignore[misc]
    for _ in range(args.jobs):
        celery_app.send_task("bench.noop", queue=QUEUE)
    stacks.start_baseline(bench, args.workers, args.pool, args.concurrency, args.loglevel)
    return timed(bench, args, deadline, ours=False, profile=False)


def drain_jobs(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline,
               profile: bool) -> tuple[float, float]:  # fmt: skip
    """Our chat jobs, callbacks included."""
    fill(bench.ours.api.url + "/v1/jobs", lambda _: bench.job_body(), bench.headers(), args.jobs,
         deadline)  # fmt: skip
    stacks.start_ours(bench, args.workers, args.pool, args.concurrency, args.loglevel)
    return timed(bench, args, deadline, ours=True, profile=profile)


def main() -> None:
    """Parse flags, run both sides ``--runs`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    common_args(parser, runs=3, timeout=2400)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs (and no-ops) per drain")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side")
    parser.add_argument("--pool", default="threads")
    parser.add_argument("--concurrency", type=int, default=16, help="pool size per worker")
    parser.add_argument("--loglevel", default="INFO", help="both sides' worker log level")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    rate = Row("drain, jobs/s", "≥ 0.50× raw no-op")
    cpu = Row("worker CPU ms/job (all processes)", "—", digits=1)
    bench = stacks.start(0)
    try:
        for run in range(args.runs):
            deadline.check(f"run {run + 1}")
            base_rate, base_cpu = drain_noop(bench, args, deadline)
            profile = args.profile and run == args.runs - 1
            ours_rate, ours_cpu = drain_jobs(bench, args, deadline, profile)
            console.print(f"run {run + 1}: no-op {base_rate:.0f}/s ({base_cpu:.1f} ms CPU), "
                          f"ours {ours_rate:.0f}/s ({ours_cpu:.1f} ms CPU)")  # fmt: skip
            rate.baseline.append(base_rate)
            rate.ours.append(ours_rate)
            cpu.baseline.append(base_cpu)
            cpu.ours.append(ours_cpu)
    finally:
        bench.stop()
    notes = [
        f"{args.jobs} per drain, {args.workers} worker processes per side, pool {args.pool} "
        f"{args.concurrency}, log level {args.loglevel}, emulator latency 0",
        "ours: one chat task per job (its callback's first attempt included), done when the "
        "sink has every callback",
    ]
    report("drain", "Drain: chat jobs vs raw Celery no-op (issue 9 §5)", [rate, cpu], notes)


if __name__ == "__main__":
    main()
