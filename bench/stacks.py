"""Starting what the benchmarks measure, all on 127.0.0.1 and free ports, as subprocesses.

Ours is :func:`mistral_queue.dev.stack.launch` (private redis-server, emulator, API) plus the
sink; the baselines get their own private redis-server, so neither side sees the other's keys.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
import orjson
import redis

from bench.baseline import CHAT_REQUEST, QUEUE
from bench.common import BenchError, Deadline
from mistral_queue.dev.processes import HOST, Proc, cli, free_port, start_http, start_redis
from mistral_queue.dev.stack import LocalStack, launch

#: Production defaults where dev/stack.py picks test-friendly ones.
BENCH_ENV = {"MQ_SWEEP_INTERVAL": "5"}
#: The hash kombu keeps un-acked messages in (perf-baseline.md §Method).
UNACKED = "unacked"


@dataclass
class Bench:
    """Our stack, the sink and the baselines' Redis."""

    ours: LocalStack
    sink: Proc
    base_redis: Proc
    workers: list[Proc] = field(default_factory=list)

    def ours_client(self) -> redis.Redis:
        """A client of our Redis (the job store and broker)."""
        return redis.Redis.from_url(self.ours.redis.url)

    def base_client(self) -> redis.Redis:
        """A client of the baselines' Redis."""
        return redis.Redis.from_url(self.base_redis.url)

    def headers(self) -> dict[str, str]:
        """Headers of a POST to our API."""
        return {"Authorization": f"Bearer {self.ours.api_key}", "Content-Type": "application/json"}

    def job_body(self, callback: bool = True) -> bytes:
        """A chat job as our API takes it, calling the sink back."""
        body: dict[str, object] = {"type": "chat", "request": CHAT_REQUEST}
        if callback:
            body["callback_url"] = self.sink.url + "/hook"
        return orjson.dumps(body)

    def base_env(self, sink: bool = False) -> dict[str, str]:
        """Environment of the baseline worker and intake."""
        env = {
            "BENCH_BROKER_URL": self.base_redis.url,
            "BENCH_EMULATOR_URL": self.ours.emulator.url,
        }
        if sink:
            env["BENCH_SINK_URL"] = self.sink.url + "/hook"
        return env

    def sink_jobs(self) -> int:
        """Distinct jobs whose callback the sink has."""
        count: int = httpx.get(self.sink.url + "/_sink/stats").json()["jobs"]
        return count

    def reset(self) -> None:
        """Stop the workers; empty both Redis servers and the sink."""
        self.stop_workers()
        self.ours_client().flushall()
        self.base_client().flushall()
        httpx.post(self.sink.url + "/_sink/reset")

    def stop_workers(self) -> None:
        """SIGTERM each worker and wait (a warm shutdown; queues are empty by then)."""
        for proc in self.workers:
            proc.stop(timeout=30)
        self.workers.clear()

    def stop(self) -> None:
        self.stop_workers()
        self.ours.stop()


def start(latency_ms: float = 0.0) -> Bench:
    """Start our stack (no workers), the sink and the baselines' Redis."""
    ours = launch(env=BENCH_ENV, workers=0, emulator_args=["--latency-ms", str(latency_ms)])
    try:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.sink:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        sink = start_http(ours.stack, "sink", argv, {}, port, "/_sink/stats")
        return Bench(ours, sink, start_redis(ours.stack))
    except BaseException:
        ours.stop()
        raise


def start_ours(bench: Bench, count: int, pool: str, concurrency: int, loglevel: str) -> None:
    """Start ``count`` of our worker processes at once (each consuming every queue)."""
    for index in range(count):
        argv = cli(
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            loglevel,
            "--hostname",
            f"ours{index}-{os.getpid()}@%h",
        )
        bench.workers.append(bench.ours.stack.start(f"ours{index}", argv, bench.ours.env))


def start_baseline(
    bench: Bench, count: int, pool: str, concurrency: int, loglevel: str, sink: bool = False
) -> None:
    """Start ``count`` plain Celery workers of ``bench.baseline`` at once."""
    for index in range(count):
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.baseline:celery_app",
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "--without-mingle",
            "--without-gossip",
            "-l",
            loglevel,
            "-Q",
            QUEUE,
            "-n",
            f"base{index}-{os.getpid()}@%h",
        ]
        bench.workers.append(bench.ours.stack.start(f"base{index}", argv, bench.base_env(sink)))


def wait_consumers(
    client: redis.Redis, count: int, deadline: Deadline, workers: Sequence[Proc]
) -> None:
    """Wait until ``count`` connections block in BRPOP: the workers are consuming."""
    while True:
        consuming = sum(1 for c in client.client_list() if c.get("cmd") == "brpop")
        if consuming >= count:
            return
        for proc in workers:
            if not proc.alive():
                raise BenchError(f"{proc.name} exited:\n{proc.log_tail()}")
        deadline.check("waiting for workers to consume")
        time.sleep(0.05)


def drain(
    client: redis.Redis,
    queue: str,
    total: int,
    finished: Callable[[], bool],
    deadline: Deadline,
    workers: Sequence[Proc],
    poll: float = 0.005,
    on_start: Callable[[], object] = lambda: None,
) -> float:
    """Seconds from the first message leaving ``queue`` until ``finished()``.

    ``on_start`` runs once the clock has started (e.g. to begin a profile).

    Raises:
        BenchError: a worker died or the deadline passed.
    """
    while client.llen(queue) >= total:
        _check(deadline, workers, "waiting for the first message to be taken")
        time.sleep(poll)
    started = time.perf_counter()
    on_start()
    while not finished():
        _check(deadline, workers, "draining")
        time.sleep(poll)
    return time.perf_counter() - started


def _check(deadline: Deadline, workers: Sequence[Proc], what: str) -> None:
    for proc in workers:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited during {what}:\n{proc.log_tail()}")
    deadline.check(what)


def celery_idle(client: redis.Redis, queue: str) -> Callable[[], bool]:
    """A ``finished`` check: ``queue`` is empty and nothing is un-acked."""
    return lambda: client.llen(queue) == 0 and client.hlen(UNACKED) == 0
