"""The worker's Celery app (``celery -A mistral_queue.worker.celery_app``) and its hooks."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown

from mistral_queue.config import get_settings
from mistral_queue.mistral.client import close_clients
from mistral_queue.tasks.runtime import reset_runtime, runtime
from mistral_queue.worker.app import create_celery
from mistral_queue.worker.sweeper import Sweeper

app = create_celery(get_settings())

_sweeper: Sweeper | None = None


@worker_process_init.connect
def _fresh_process(**_: Any) -> None:
    # A forked pool child must not share its parent's sockets.
    reset_runtime()


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = Sweeper(app, runtime())
    _sweeper.start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    close_clients()
    reset_runtime()
