"""The Celery application: broker, reliability settings, queues and routing (queues.md §0-§1)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from mistral_queue.broker.names import (
    ALL_QUEUES,
    BATCH_CANCEL,
    BATCH_POLL,
    BATCH_REQUEST,
    BATCH_REQUESTS_QUEUE,
    CALLBACKS_QUEUE,
    DELIVER_CALLBACK,
    DELIVER_TO_ENDPOINT,
    FAN_OUT_TO_ENDPOINTS,
    QUEUES,
    RUN_TASKS,
)
from mistral_queue.config import Settings
from mistral_queue.jobs.model import JobType

#: Modules whose tasks every worker registers.
TASK_MODULES = (
    "mistral_queue.tasks.chat",
    "mistral_queue.tasks.agent",
    "mistral_queue.tasks.callbacks",
    "mistral_queue.tasks.endpoint_delivery",
    "mistral_queue.tasks.batch",
    "mistral_queue.tasks.endpoints",
    "mistral_queue.tasks.embeddings",
    "mistral_queue.tasks.ocr",
)


def _routes() -> dict[str, dict[str, str]]:
    routes = {task: {"queue": QUEUES[kind]} for kind, task in RUN_TASKS.items()}
    routes[DELIVER_CALLBACK] = {"queue": CALLBACKS_QUEUE}
    routes[DELIVER_TO_ENDPOINT] = {"queue": CALLBACKS_QUEUE}
    routes[FAN_OUT_TO_ENDPOINTS] = {"queue": CALLBACKS_QUEUE}
    routes[BATCH_POLL] = routes[BATCH_CANCEL] = {"queue": QUEUES[JobType.BATCH]}
    routes[BATCH_REQUEST] = {"queue": BATCH_REQUESTS_QUEUE}
    return routes


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration derived from the settings."""
    transport = {
        # Longer than any task plus its longest countdown, so Redis never redelivers a
        # message a live worker still holds (queues.md §1 "visibility timeout duplicates").
        "visibility_timeout": settings.visibility_timeout,
        # Above any worker concurrency: threads ack concurrently (perf-baseline.md §2).
        "max_connections": 1024,
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
        "health_check_interval": 25,
        # Restore unacked messages of dead workers every ~10 s instead of ~100 s.
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": settings.broker,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        "task_default_queue": QUEUES[next(iter(QUEUES))],
        "task_queues": [Queue(name) for name in ALL_QUEUES],
        "task_routes": _routes(),
        "task_create_missing_queues": True,
        "enable_utc": True,
    }


def create_celery(settings: Settings, *, include_tasks: bool = True) -> Celery:
    """A Celery app for workers (``include_tasks``) or for publishers such as the API."""
    app = Celery("mistral_queue", include=list(TASK_MODULES) if include_tasks else [])
    app.conf.update(celery_config(settings))
    return app
