"""A Mistral-compatible HTTP server for development, demos and tests.

``create_app(config)`` builds the FastAPI app, ``serve(host, port, config)`` runs it with
uvicorn, ``running(config)`` serves it in a background thread (tests). Faults are controlled
per call (``x-emulator-fault`` header, ``[[fault:...]]`` marker) and per run (config, admin
API under ``/_emulator/``); see ``faults.py`` for the step syntax.
"""

from mistral_queue.dev.emulator.app import create_app
from mistral_queue.dev.emulator.config import EmulatorConfig, RunFaults
from mistral_queue.dev.emulator.server import RunningEmulator, build_config, running, serve

__all__ = [
    "EmulatorConfig",
    "RunFaults",
    "RunningEmulator",
    "build_config",
    "create_app",
    "running",
    "serve",
]
