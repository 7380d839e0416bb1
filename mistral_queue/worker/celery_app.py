"""The worker's Celery app (``celery -A mistral_queue.worker.celery_app``) and its hooks.

Besides the tasks, every worker process runs the recovery sweep (leader-elected) and, once
asked to stop, a grace timer: running jobs get ``shutdown_grace_seconds`` to finish (Celery's
warm shutdown), then the process hands their leases back to the sweep and exits, since no
pool but prefork can interrupt a running task (docs/guarantees.md § Shutdown).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

from mistral_queue.config import Settings, get_settings
from mistral_queue.jobs.routing import CALLBACKS_QUEUE, DELIVER_CALLBACK, QUEUES, RUN_TASKS
from mistral_queue.mistral.client import close_clients
from mistral_queue.tasks.runtime import reset_runtime, runtime
from mistral_queue.worker.app import create_celery
from mistral_queue.worker.sweeper import Sweeper

log = logging.getLogger(__name__)

#: Exit status of a worker that had to leave running jobs behind at shutdown.
EX_HANDED_BACK = 3


def time_limits(settings: Settings) -> dict[str, dict[str, float]]:
    """Celery ``task_annotations`` giving each task its queue's hard and soft (90 %) limits."""
    tasks = {RUN_TASKS[kind]: queue for kind, queue in QUEUES.items()}
    tasks[DELIVER_CALLBACK] = CALLBACKS_QUEUE
    limits = settings.task_time_limits
    return {
        task: {"time_limit": limits[queue], "soft_time_limit": 0.9 * limits[queue]}
        for task, queue in tasks.items()
        if queue in limits
    }


app = create_celery(get_settings())
app.conf.task_annotations = time_limits(get_settings())

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


def _grace_over() -> None:
    handed = runtime().leases.hand_back()
    log.warning("shutdown grace period over: handing back %d running job(s) %s", len(handed),
                handed)  # fmt: skip
    logging.shutdown()
    os._exit(EX_HANDED_BACK)


@worker_shutting_down.connect
def _start_grace(**_: Any) -> None:
    # Runs in the signal handler: only start a timer. If the warm shutdown ends first, the
    # process exits normally and the daemon timer with it.
    timer = threading.Timer(get_settings().shutdown_grace_seconds, _grace_over)
    timer.daemon = True
    timer.start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    close_clients()
    reset_runtime()
