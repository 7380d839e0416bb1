"""The whole service as local processes: for ``mistral-queue dev``, the tests and the benchmarks.

Every process listens on 127.0.0.1 and a free port (``dev/processes.py`` starts them): a
private Redis, the Mistral emulator, the development receiver, the API and workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mistral_queue.dev.processes import (
    HOST,
    Proc,
    Stack,
    cli,
    free_port,
    start_http,
    start_redis,
    worker_ready,
)


def new_webhook_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes (Standard Webhooks v1 §Secret)."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class LocalStack:
    """A running local deployment: Redis, emulator, receiver, API and workers."""

    stack: Stack
    env: dict[str, str]
    api_key: str
    secret: str
    redis: Proc
    emulator: Proc
    receiver: Proc
    api: Proc
    workers: list[Proc] = field(default_factory=list)
    flower: Proc | None = None
    #: Whether Redis runs with an append-only file (so a restart keeps its data).
    aof: bool = False
    _started: int = 0

    def start_worker(self, *extra: str, concurrency: int = 16, name: str | None = None) -> Proc:
        """Start one more worker process (unique node name) and wait until it is ready."""
        self._started += 1
        name = name or f"worker{self._started}"
        argv = cli("worker", "--concurrency", str(concurrency), "--loglevel", "INFO",
                   "--hostname", f"{name}-{os.getpid()}@%h", *extra)  # fmt: skip
        proc = self.stack.start(name, argv, self.env)
        worker_ready(proc)
        self.workers.append(proc)
        return proc

    def kill_redis(self) -> None:
        """SIGKILL the stack's redis-server; with ``aof`` its data stays on disk."""
        self.redis.kill()

    def restart_redis(self) -> Proc:
        """Start redis-server again on the same port and data directory; wait until it answers."""
        self.redis.stop()
        self.redis = start_redis(self.stack, urlsplit(self.redis.url).port, aof=self.aof)
        # Stopped last again, after the processes that use it.
        self.stack.procs.remove(self.redis)
        self.stack.procs.insert(0, self.redis)
        return self.redis

    def stop_receiver(self) -> None:
        """SIGKILL the webhook receiver (callbacks then fail with connection refused)."""
        self.receiver.kill()

    def start_receiver(self) -> Proc:
        """Start the receiver again on its port; wait until it answers."""
        port = urlsplit(self.receiver.url).port or free_port()
        argv = cli("receiver", "--host", HOST, "--port", str(port))
        self.receiver = start_http(self.stack, "receiver", argv, self.env, port,
                                   "/_receiver/events")  # fmt: skip
        return self.receiver

    def stop(self) -> None:
        self.stack.stop_all()


def launch(
    *,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    concurrency: int = 16,
    emulator_args: Sequence[str] = (),
    flower_port: int | None = None,
    ports: Mapping[str, int] | None = None,
    aof: bool = False,
) -> LocalStack:
    """Start a whole local deployment on free ports (or the given ``ports``).

    Args:
        env: extra environment for the API and workers (e.g. ``MQ_CALLBACK_RETRY_DELAYS``).
        workers: worker processes to start.
        concurrency: threads per worker.
        emulator_args: extra flags for ``mistral-queue emulator``.
        flower_port: also start Flower on this port.
        ports: fixed ports by part name (``api``, ``emulator``, ``receiver``).
        aof: run Redis with an append-only file (``appendfsync everysec``), so
            ``LocalStack.restart_redis`` keeps every acknowledged write.

    Raises:
        StartupError: a part did not come up; everything started is stopped again.
    """
    ports = dict(ports or {})
    stack = Stack()
    try:
        local = _launch(stack, env or {}, emulator_args, flower_port, ports, aof)
        for _ in range(workers):
            local.start_worker(concurrency=concurrency)
        return local
    except BaseException:
        stack.stop_all()
        raise


def _launch(stack: Stack, extra_env: Mapping[str, str], emulator_args: Sequence[str],
            flower_port: int | None,
            ports: dict[str, int], aof: bool) -> LocalStack:  # fmt: skip
    redis_proc = start_redis(stack, aof=aof)
    for part in ("api", "emulator", "receiver"):
        ports.setdefault(part, free_port())
    secret = extra_env.get("MQ_WEBHOOK_SECRET") or new_webhook_secret()
    api_keys = extra_env.get("MQ_API_KEYS") or f"dev-{os.urandom(8).hex()}:default"
    api_key = api_keys.split(",")[0].split(":")[0]
    env = {
        "MQ_REDIS_URL": redis_proc.url,
        "MISTRAL_BASE_URL": f"http://{HOST}:{ports['emulator']}",
        "MISTRAL_API_KEY": "emulator-key",
        "MQ_API_KEYS": api_keys,
        "MQ_WEBHOOK_SECRET": secret,
        "MQ_CALLBACK_ALLOW_HOSTS": "127.0.0.1,localhost,::1",
        "MQ_CALLBACK_RETRY_DELAYS": "1,2,5",
        "MQ_SWEEP_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }

    def serve(name: str, health: str, *args: str) -> Proc:
        port = str(ports[name])
        return start_http(stack, name, cli(name, "--host", HOST, "--port", port, *args),
                          env, ports[name], health)  # fmt: skip

    emulator = serve("emulator", "/_emulator/health", *emulator_args)
    receiver = serve("receiver", "/_receiver/events")
    api = serve("api", "/healthz")
    local = LocalStack(stack, env, api_key, secret, redis_proc, emulator, receiver, api, aof=aof)
    if flower_port:
        local.flower = start_http(stack, "flower", cli("flower", "--port", str(flower_port)),
                                  env, flower_port, "/healthcheck")  # fmt: skip
    return local
