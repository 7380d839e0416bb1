"""What one RateLimiter.acquire costs, with 1 and 8 processes sharing a private redis-server.

Run by hand: ``.venv/bin/python bench/limiter_overhead.py [--calls N] [--redis-url URL]``.
Limits are set high enough that no call waits, so the figures are the limiter's own cost
(one EVALSHA round trip plus Python); prints a table of µs per acquire and calls per second.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from typing import Any

import redis

from mistral_queue.config import Settings
from mistral_queue.dev.processes import Stack, start_redis
from mistral_queue.mistral.limiter import RateLimiter

#: What is timed: one acquire, or an acquire and the settle that follows a call.
OPERATIONS = ("acquire", "acquire+settle")


def run(url: str, operation: str, calls: int, out: Any) -> None:
    """One process: ``calls`` operations; reports the per-call times in µs."""
    client = redis.Redis.from_url(url)
    # Limits no run reaches, so every acquire is granted at once and only its cost is timed.
    limiter = RateLimiter(client, Settings(rate_limit_rps=1e9, rate_limit_tpm=10**15))
    limiter.acquire("warm-up", 1)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        reservation = limiter.acquire("mistral-small-latest", 500)
        if operation == "acquire+settle":
            reservation.settle(480)
        times.append((time.perf_counter() - start) * 1e6)
    client.close()
    out.put(times)


def measure(url: str, operation: str, processes: int, calls: int) -> tuple[list[float], float]:
    """Per-call µs of all processes, and the wall time of the whole run."""
    context = multiprocessing.get_context("fork")
    out: Any = context.SimpleQueue()
    procs = [
        context.Process(target=run, args=(url, operation, calls, out)) for _ in range(processes)
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    times: list[float] = []
    for _ in procs:
        times.extend(out.get())
    for proc in procs:
        proc.join()
    return times, time.perf_counter() - started


def main() -> None:
    """Parse flags, start Redis unless given one, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="acquires per process")
    parser.add_argument("--redis-url", help="an existing private Redis (default: start one)")
    args = parser.parse_args()
    stack = Stack()
    url = args.redis_url or start_redis(stack).url
    try:
        print(f"{'operation':<15} {'processes':>9} {'p50 µs':>8} {'p99 µs':>8} {'calls/s':>9}")
        for operation in OPERATIONS:
            for processes in (1, 8):
                times, wall = measure(url, operation, processes, args.calls)
                times.sort()
                p99 = times[int(len(times) * 0.99) - 1]
                print(
                    f"{operation:<15} {processes:>9} {statistics.median(times):>8.0f}"
                    f" {p99:>8.0f} {len(times) / wall:>9.0f}"
                )
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
