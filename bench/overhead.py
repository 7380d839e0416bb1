"""Overhead (issue 9 §4): POST → callback received, minus the upstream call, at light load.

``python -m bench.overhead [--runs 3] [--jobs 200] [--gap-ms 20] [--latency-ms 0]``

One job at a time, ``--gap-ms`` apart: the time from sending ``POST /v1/jobs`` to the sink
receiving the job's callback, minus the emulator's own time for that job's call (its request
log's ``duration_ms``, matched by X-Request-ID). The baseline is the plain FastAPI intake
(HSET, ``send_task``) and a bare Celery threads worker that makes the same upstream call and
then POSTs a bare callback to the same sink.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import httpx

from bench import stacks
from bench.common import BenchError, Deadline, Row, common_args, console, percentile, report
from bench.intake import serve
from bench.profile import record, summarize


@dataclass
class Side:
    """Where one side takes jobs, and how its jobs are told apart in the emulator's log."""

    name: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Timing:
    """One job's clock readings, unix seconds, and the emulator's own time for its call."""

    sent: float
    answered: float
    upstream_at: float
    upstream_ms: float
    called_back: float

    def stages(self) -> dict[str, float]:
        """Milliseconds of each leg: intake, to the upstream call, after it; they sum up to
        the overhead."""
        return {
            "intake (POST → 202)": 1000 * (self.answered - self.sent),
            "202 → upstream request": 1000 * (self.upstream_at - self.answered),
            "upstream answer → callback": 1000 * (self.called_back - self.upstream_at)
            - self.upstream_ms,
        }

    def overhead(self) -> float:
        """POST → callback received minus the emulator's time, milliseconds."""
        return sum(self.stages().values())


def one_run(
    bench: stacks.Bench, side: Side, args: argparse.Namespace, deadline: Deadline
) -> list[Timing]:
    """Send ``--jobs`` jobs one by one; the timings of each."""
    sent: dict[str, tuple[float, float, float]] = {}
    with httpx.Client(timeout=10) as client:
        for _ in range(args.jobs):
            deadline.check(f"{side.name} jobs")
            started = time.time()
            response = client.post(side.url + "/v1/jobs", content=side.body, headers=side.headers)
            answered = time.time()
            if response.status_code != 202:
                raise BenchError(f"{side.name}: {response.status_code} {response.text}")
            job_id = response.json()["id"]
            wait = {"id": job_id, "timeout": 10}
            waited = client.get(bench.sink.url + "/_sink/wait", params=wait)
            if waited.status_code != 200:
                raise BenchError(f"{side.name}: no callback for {job_id} within 10 s")
            sent[job_id] = (started, answered, waited.json()["time"])
            time.sleep(args.gap_ms / 1000)
    upstream = emulator_calls(bench)
    missing = [job_id for job_id in sent if job_id not in upstream]
    if missing:
        raise BenchError(f"{side.name}: the emulator never saw {missing[:3]}")
    return [Timing(start, answered, *upstream[job_id], done)
            for job_id, (start, answered, done) in sent.items()]  # fmt: skip


def emulator_calls(bench: stacks.Bench) -> dict[str, tuple[float, float]]:
    """(arrival unix time, milliseconds spent) of each job's first call; clears the log."""
    url = bench.ours.emulator.url + "/_emulator/requests"
    entries = httpx.get(url, params={"path": "/v1/chat/completions"}).json()["data"]
    httpx.post(bench.ours.emulator.url + "/_emulator/reset")
    found: dict[str, tuple[float, float]] = {}
    for entry in entries:
        job_id = (entry.get("request_id") or "").rsplit(":", 1)[0]
        found.setdefault(job_id, (float(entry["time"]), float(entry["duration_ms"])))
    return found


def start_sides(bench: stacks.Bench, args: argparse.Namespace, deadline: Deadline) -> list[Side]:
    """One worker of each kind, consuming; the baseline intake served."""
    stacks.start_ours(bench, 1, "threads", args.concurrency, args.loglevel)
    stacks.start_baseline(bench, 1, "threads", args.concurrency, args.loglevel, sink=True)
    stacks.wait_consumers(bench.ours_client(), 1, deadline, bench.workers)
    stacks.wait_consumers(bench.base_client(), 1, deadline, bench.workers)
    base_url = serve(bench, "baseline-api", "bench.baseline:intake", bench.base_env())
    headers = bench.headers()
    return [Side("baseline", base_url, headers, bench.job_body()),
            Side("ours", bench.ours.api.url, headers, bench.job_body())]  # fmt: skip


def main() -> None:
    """Parse flags, run both sides ``--runs`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    common_args(parser, runs=3, timeout=900)
    parser.add_argument("--jobs", type=int, default=200, help="jobs per run")
    parser.add_argument("--gap-ms", type=float, default=20, help="pause between jobs")
    parser.add_argument("--latency-ms", type=float, default=0, help="emulator latency")
    parser.add_argument("--concurrency", type=int, default=32, help="worker threads")
    parser.add_argument("--loglevel", default="INFO", help="both workers' log level")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    rows = {q: Row(f"overhead p{q} ms", t, digits=1) for q, t in ((50, "≤ 10"), (99, "≤ 25"))}
    rows[100] = Row("overhead max ms", "—", digits=1)
    stage_rows: dict[tuple[str, str], list[float]] = {}
    bench = stacks.start(args.latency_ms)
    try:
        sides = start_sides(bench, args, deadline)
        warm_up = argparse.Namespace(**{**vars(args), "jobs": 20})
        for side in sides:
            one_run(bench, side, warm_up, deadline)
        for run in range(args.runs):
            for side in sides:
                profiling = args.profile and side.name == "ours" and run == args.runs - 1
                seconds = args.jobs * (args.gap_ms + 10) / 1000
                pid = bench.workers[0].popen.pid
                recording = record(pid, seconds, "overhead-worker") if profiling else None
                timings = one_run(bench, side, args, deadline)
                values = [t.overhead() for t in timings]
                for stage in timings[0].stages():
                    legs = [t.stages()[stage] for t in timings]
                    stage_rows.setdefault((side.name, stage), []).append(percentile(legs, 50))
                for q, row in rows.items():
                    getattr(row, "ours" if side.name == "ours" else "baseline").append(
                        percentile(values, q)
                    )
                console.print(f"run {run + 1} {side.name}: p50 {percentile(values, 50):.1f} "
                              f"p99 {percentile(values, 99):.1f} ms")  # fmt: skip
                if recording and (path := recording.wait(120)):
                    console.print(summarize(path))
    finally:
        bench.stop()
    notes = [
        f"{args.jobs} jobs per run one at a time, {args.gap_ms:g} ms apart; emulator latency "
        f"{args.latency_ms:g} ms (subtracted with the emulator's own time); one worker, "
        f"threads {args.concurrency}, log level {args.loglevel}; 20 warm-up jobs first"
    ]
    leg_rows = []
    for (side_name, stage), medians in stage_rows.items():
        if side_name == "ours":
            leg = Row(f"leg p50 ms: {stage}", "—", digits=1)
            leg.ours, leg.baseline = medians, stage_rows["baseline", stage]
            leg_rows.append(leg)
    title = "Overhead: POST → callback minus upstream (issue 9 §4)"
    report("overhead", title, [*rows.values(), *leg_rows], notes)


if __name__ == "__main__":
    main()
