"""Running the emulator: ``serve`` for the CLI, ``running`` for tests, ``build_config``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from mistral_queue.dev.emulator.app import create_app
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import EmulatorError
from mistral_queue.dev.emulator.state import EmulatorState

#: Options given as comma-separated text on a command line.
_LIST_OPTIONS = ("api_keys", "error_statuses", "models", "script", "paths")
#: Seconds open streams get to finish when the server stops.
_GRACEFUL_SECONDS = 2


def build_config(**options: Any) -> EmulatorConfig:
    """An ``EmulatorConfig`` from CLI-style options; None values keep the defaults.

    List options (``api_keys``, ``error_statuses``, ``models``, ``script``, ``paths``) may be
    comma-separated strings, e.g. ``build_config(latency_ms=50, error_statuses="500,503")``.

    Raises:
        EmulatorError: naming each invalid option.
    """
    values = {name: value for name, value in options.items() if value is not None}
    for name in _LIST_OPTIONS:
        if isinstance(values.get(name), str):
            values[name] = [part.strip() for part in values[name].split(",") if part.strip()]
    try:
        return EmulatorConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise EmulatorError(f"invalid emulator options: {problems}") from None


def serve(host: str, port: int, config: EmulatorConfig) -> None:
    """Serve the emulator with uvicorn until interrupted (blocking, log level warning)."""
    app = create_app(config)
    try:
        uvicorn.Server(_uvicorn_config(app, host, port)).run()
    finally:
        app.state.emulator.close()


@dataclass(frozen=True)
class RunningEmulator:
    """An emulator serving in a background thread."""

    base_url: str
    app: FastAPI

    @property
    def state(self) -> EmulatorState:
        """The live state (touch it only while no request is in flight)."""
        state = self.app.state.emulator
        assert isinstance(state, EmulatorState)
        return state


@contextmanager
def running(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[RunningEmulator]:
    """Serve the emulator over real HTTP in a daemon thread for the ``with`` block.

    ``port=0`` binds a free port; the URL is ``RunningEmulator.base_url``
    (``http://127.0.0.1:<port>``, the SDK's ``server_url``).

    Raises:
        EmulatorError: when the server is not accepting within ``startup_timeout`` seconds.
    """
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_uvicorn_config(app, host, sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, startup_timeout)
        yield RunningEmulator(f"http://{host}:{sock.getsockname()[1]}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=_GRACEFUL_SECONDS + 5)
        sock.close()
        app.state.emulator.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise EmulatorError("the emulator did not start")
        time.sleep(0.01)


def _uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=_GRACEFUL_SECONDS,
    )
