"""Soak: minutes of mixed chat load while workers are SIGKILLed and the receiver goes down.

Run by hand: ``.venv/bin/python -m bench.soak --minutes 5`` (``--help`` for the knobs). At
the end it waits for every accepted job to settle and prints (and writes to
``bench/out/soak-<time>.md``) accepted / finished / lost / duplicate-upstream /
duplicate-callback counts. Targets: lost = 0, duplicate upstream calls after a recorded
success = 0, every callback delivered. Ground truth comes from three places: the job records
in Redis, the emulator's request log and the sink's count per webhook-id.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.chaos import Chaos, Sink, job_body
from bench.common import OUT_DIR, machine_line
from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack, launch
from tests.faults.support import (
    duplicate_successes,
    records,
    redis_client,
    settled,
    upstream_calls,
    webhook_id,
)

#: Schedules sized for the chaos: callbacks outlive an outage, leases lapse in seconds.
SOAK_ENV = {
    "MQ_API_KEYS": "soak-key:soak",
    "MQ_CALLBACK_RETRY_DELAYS": "1,2,4,8,16,32,60",
    "MQ_CALLBACK_TIMEOUT": "5",
    "MQ_CALLBACK_REQUEUE_AFTER_SECONDS": "5",
    "MQ_LEASE_SECONDS": "3",
    "MQ_REQUEUE_AFTER_SECONDS": "15",
    "MQ_SWEEP_INTERVAL": "1",
    "MQ_RETRY_BASE_DELAY": "0.2",
    "MQ_RETRY_MAX_DELAY": "2",
    "MQ_INLINE_RETRY_MAX_WAIT": "1",
    "MQ_MAX_ATTEMPTS": "6",
    "MQ_SHUTDOWN_GRACE_SECONDS": "10",
}


@dataclass
class Load:
    """What the submitter did."""

    accepted: list[str]
    refused: int = 0


def submit(stack: LocalStack, sink: Sink, args: argparse.Namespace, stop: threading.Event) -> Load:
    """Post jobs at ``args.rate`` per second until ``stop``; 202s are accepted."""
    rng = random.Random(args.seed)
    load = Load(accepted=[])
    lock = threading.Lock()
    client = httpx.Client(headers={"Authorization": "Bearer soak-key"}, timeout=30)

    def post(body: dict[str, Any]) -> None:
        response = client.post(f"{stack.api.url}/v1/jobs", json=body)
        with lock:
            if response.status_code == 202:
                load.accepted.append(response.json()["id"])
            else:
                load.refused += 1

    with ThreadPoolExecutor(16) as pool:
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            n += 1
            pool.submit(post, job_body(rng, n, sink.url))
            stop.wait(max(0.0, start + n / args.rate - time.monotonic()))
    client.close()
    return load


def wait_settled(stack: LocalStack, ids: list[str], timeout: float) -> dict[str, dict[str, str]]:
    """Poll the job records until all are settled or ``timeout`` s pass; returns the last read."""
    client = redis_client(stack)
    deadline = time.monotonic() + timeout
    while True:
        found = records(client, ids)
        if all(settled(r) for r in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def tally(
    stack: LocalStack, sink: Sink, chaos: Chaos, load: Load, final: dict[str, dict[str, str]]
) -> list[tuple[str, int]]:
    """The soak's counts, in table order."""
    done = [r for r in final.values() if settled(r)]
    attempts = {job_id: int(r.get("attempts", 0)) for job_id, r in final.items()}
    duplicates = duplicate_successes(upstream_calls(stack), attempts, chaos.kills)
    expected = {webhook_id(j, r.get("callback_event", "")) for j, r in final.items()}
    delivered = {w for w in expected if sink.deliveries[w]}
    return [
        ("accepted (202)", len(load.accepted)),
        ("refused (not 202)", load.refused),
        ("finished (final, callback settled)", len(done)),
        ("succeeded", sum(1 for r in done if r["status"] == "succeeded")),
        ("failed (with a reason)", sum(1 for r in done if r["status"] == "failed")),
        ("lost (accepted, never finished)", len(final) - len(done)),
        ("duplicate upstream success (after recorded)", len(duplicates.unexplained)),
        ("upstream re-asked, answer in flight at a kill", len(duplicates.in_flight)),
        ("callbacks delivered", len(delivered)),
        ("callbacks missing", len(expected) - len(delivered)),
        ("duplicate callbacks (same webhook-id)", sum(sink.deliveries[w] - 1 for w in delivered)),
        ("bad signatures", sink.bad_signatures),
        ("jobs requeued by the sweep", sum(1 for r in final.values() if "requeues" in r)),
        ("worker SIGKILLs", len(chaos.kills)),
        ("receiver outages", chaos.outages),
    ]


def reasons(final: dict[str, dict[str, str]]) -> str:
    """Why the failed jobs failed: ``type (status): count`` pairs."""
    counts: Counter[str] = Counter()
    for record in final.values():
        if record.get("status") == "failed":
            error = orjson.loads(record.get("error", "{}"))
            counts[f"{error.get('type')} ({error.get('status_code', '-')})"] += 1
    return ", ".join(f"{reason}: {n}" for reason, n in counts.most_common()) or "none"


def report(args: argparse.Namespace, rows: list[tuple[str, int]], notes: list[str]) -> None:
    """Print the table and write it as Markdown under bench/out/."""
    title = (
        f"Soak: {args.minutes:g} min, {args.rate:g} jobs/s, {args.workers} workers x "
        f"{args.concurrency}, {args.latency_ms:g} ms upstream, SIGKILL every "
        f"~{args.kill_every:g} s, receiver down {args.outage_seconds:g} s every "
        f"~{args.outage_every:g} s"
    )
    lines = [f"### {title}", "", machine_line(), "", "| count | value |", "|---|---:|"]
    lines += [f"| {name} | {value:,} |" for name, value in rows]
    lines += ["", *[f"- {note}" for note in notes]]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    print(f"written to {path}")


def soak(args: argparse.Namespace) -> None:
    """Start a stack, load it under chaos for ``args.minutes``, settle, count, report."""
    stack = launch(env=SOAK_ENV, workers=args.workers, concurrency=args.concurrency)
    try:
        faults = {"latency_ms": args.latency_ms}
        httpx.post(f"{stack.emulator.url}/_emulator/faults", json=faults).raise_for_status()
        sink = Sink(signing_secret(stack))
        sink.start()
        chaos = Chaos(
            stack,
            sink,
            random.Random(args.seed),
            kill_every=args.kill_every,
            outage_every=args.outage_every,
            outage_seconds=args.outage_seconds,
            concurrency=args.concurrency,
        )
        threads = chaos.start()
        stop = threading.Event()
        timer = threading.Timer(args.minutes * 60, stop.set)
        timer.start()
        load = submit(stack, sink, args, stop)
        chaos.stop.set()
        for thread in threads:
            thread.join(60)
        print(f"load over: {len(load.accepted)} accepted; waiting for them to settle")
        final = wait_settled(stack, load.accepted, args.settle_timeout)
        report(args, tally(stack, sink, chaos, load, final), [f"failures: {reasons(final)}"])
        sink.stop()
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of load")
    parser.add_argument("--rate", type=float, default=10.0, help="jobs submitted per second")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--latency-ms", type=float, default=300.0, help="upstream latency")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean s between kills")
    parser.add_argument("--outage-every", type=float, default=45.0, help="s between outages")
    parser.add_argument("--outage-seconds", type=float, default=8.0, help="outage length, s")
    parser.add_argument("--settle-timeout", type=float, default=300.0, help="s to settle")
    parser.add_argument("--seed", type=int, default=8, help="seed of the mix and the chaos")
    soak(parser.parse_args())


if __name__ == "__main__":
    main()
