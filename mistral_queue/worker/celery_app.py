"""The worker's Celery app (``celery -A mistral_queue.worker.celery_app``) and its hooks.

Besides the tasks, every worker process runs the recovery sweep (leader-elected), the
consumer watchdog (``watchdog.py``) and, once asked to stop, a grace timer: running jobs get
``shutdown_grace_seconds`` to finish (Celery's warm shutdown), then the process hands their
leases back to the sweep and exits, since no pool but prefork can interrupt a running task
(docs/guarantees.md § Shutdown).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery.signals import (
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from mistral_queue import tracing
from mistral_queue.broker.celery_config import create_celery
from mistral_queue.broker.kombu_redis import transport_for
from mistral_queue.broker.names import (
    BATCH_CANCEL,
    BATCH_POLL,
    BATCH_REQUEST,
    CALLBACKS_QUEUE,
    DELIVER_CALLBACK,
    QUEUES,
    RUN_TASKS,
)
from mistral_queue.config import Settings, get_settings
from mistral_queue.jobs.model import JobType
from mistral_queue.mistral.client import close_clients
from mistral_queue.tasks.runtime import reset_runtime, runtime
from mistral_queue.worker.scheduler import Scheduler
from mistral_queue.worker.sweeper import Sweeper
from mistral_queue.worker.watchdog import StallCheck, Watchdog, watches

log = logging.getLogger(__name__)

#: Exit status of a worker that had to leave running jobs behind at shutdown.
EX_HANDED_BACK = 3


def time_limits(settings: Settings) -> dict[str, dict[str, float]]:
    """Celery ``task_annotations`` giving each task its kind's hard and soft (90 %) limits.

    A batch poll or cancel is a batch step; one request of a direct batch is one chat call.
    """
    tasks = {RUN_TASKS[kind]: queue for kind, queue in QUEUES.items()}
    batch, chat = QUEUES[JobType.BATCH], QUEUES[JobType.CHAT]
    tasks |= {BATCH_POLL: batch, BATCH_CANCEL: batch, BATCH_REQUEST: chat}
    tasks[DELIVER_CALLBACK] = CALLBACKS_QUEUE
    limits = settings.task_time_limits
    return {
        task: {"time_limit": limits[queue], "soft_time_limit": 0.9 * limits[queue]}
        for task, queue in tasks.items()
        if queue in limits
    }


app = create_celery(get_settings())
app.conf.task_annotations = time_limits(get_settings())
app.conf.broker_transport = transport_for(get_settings().broker)
tracing.instrument_worker()

_sweeper: Sweeper | None = None
_scheduler: Scheduler | None = None
_watchdog: Watchdog | None = None


@worker_process_init.connect
def _fresh_process(**_: Any) -> None:
    # A forked pool child must not share its parent's sockets.
    reset_runtime()


@worker_ready.connect
def _start_sweeper(sender: Any, **_: Any) -> None:
    global _sweeper, _scheduler, _watchdog
    rt = runtime()
    _sweeper = Sweeper(app, rt)
    _sweeper.start()
    _scheduler = Scheduler(app, rt)
    _scheduler.start()
    stall = rt.settings.consumer_stall_seconds
    if stall and watches(rt.settings.broker):
        _watchdog = Watchdog(sender, rt, StallCheck(stall))
        _watchdog.start()


@task_prerun.connect
def _task_started(**_: Any) -> None:
    if _watchdog is not None:
        _watchdog.task_started()


def _grace_over() -> None:
    handed = runtime().leases.hand_back()
    log.warning(
        "shutdown grace period over: handing back %d running job(s): %s", len(handed), handed
    )
    logging.shutdown()
    os._exit(EX_HANDED_BACK)


@worker_shutting_down.connect
def _start_grace(**_: Any) -> None:
    # Runs in the signal handler: only start a timer. If the warm shutdown ends first, the
    # process exits normally and the daemon timer with it. A stopping worker consumes no
    # more, which is not a stall.
    if _watchdog is not None:
        _watchdog.stop()
    timer = threading.Timer(get_settings().shutdown_grace_seconds, _grace_over)
    timer.daemon = True
    timer.start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    if _scheduler is not None:
        _scheduler.stop()
    if _watchdog is not None:
        _watchdog.stop()
    close_clients()
    reset_runtime()
