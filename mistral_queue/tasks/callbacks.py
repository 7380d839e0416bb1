"""Callback delivery: sign, POST, record the attempt, schedule the next one (DESIGN § Webhooks).

The callbacks-due set in Redis is the source of truth for what must still be sent; the Celery
message is only the fast path. A delay short enough for a Celery countdown is scheduled as one;
a longer one (hours) is left to the sweep, which publishes the task when it is due, so no
message outlives the broker's visibility timeout.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from celery import Task, shared_task

from mistral_queue.config import Settings
from mistral_queue.jobs import changes, keys
from mistral_queue.jobs.model import CallbackStatus, JobRecord
from mistral_queue.jobs.routing import DELIVER_CALLBACK
from mistral_queue.tasks.runtime import runtime
from mistral_queue.webhooks.delivery import DeliveryResult, deliver
from mistral_queue.webhooks.signing import event_id

log = logging.getLogger(__name__)

#: Longest wait (seconds) scheduled as a Celery countdown; longer ones go through the sweep.
MAX_COUNTDOWN = 600.0


def payload(record: JobRecord) -> bytes:
    """The callback body: ``{"type", "timestamp", "data": <job>}`` (Standard Webhooks §Payload)."""
    job = record.job
    event = record.callback_event or f"job.{job.status.value}"
    body = {
        "type": event,
        "timestamp": job.finished_at or job.created_at,
        "data": job.model_dump(mode="json"),
    }
    return orjson.dumps(body)


def _next_delay(settings: Settings, attempt: int, result: DeliveryResult) -> float | None:
    """Seconds until the next attempt after failed attempt ``attempt``, or None: give up."""
    delays = settings.callback_retry_delays
    if result.gone or attempt > len(delays):
        return None
    return max(delays[attempt - 1], result.retry_after or 0.0)


def _record_attempt(
    record: JobRecord, attempt: int, result: DeliveryResult, delay: float | None
) -> float | None:
    """Store the attempt on the job; return when the next one is due (unix time), if any."""
    fields = {
        "callback_attempts": str(attempt),
        "callback_last_status_code": str(result.status_code or ""),
        "callback_last_error": result.error or "",
    }
    data: dict[str, Any] = {"attempt": attempt, "status_code": result.status_code}
    if result.ok:
        status, event, due = CallbackStatus.DELIVERED, "callback.delivered", None
    elif delay is None:
        status, event, due = CallbackStatus.FAILED, "callback.failed", None
        data["error"] = result.error
    else:
        status, event, due = CallbackStatus.PENDING, "callback.retrying", time.time() + delay
        data |= {"error": result.error, "delay": delay}
        fields["callback_next_attempt_at"] = datetime.fromtimestamp(due, UTC).isoformat()
    fields["callback_status"] = status.value
    change = changes.callback_attempt(
        fields=fields, event=event, data=data, due="remove" if due is None else due
    )
    runtime().store.apply(record.id, record.tenant, change)
    return due


def send(record: JobRecord) -> float | None:
    """POST the job's callback once; return when the next attempt is due, or None when done."""
    rt = runtime()
    settings = rt.settings
    assert record.job.callback.url is not None
    attempt = record.job.callback.attempts + 1
    result = deliver(
        record.job.callback.url,
        event_id(record.id, record.callback_event or "job.final"),
        payload(record),
        secrets=[s.get_secret_value() for s in settings.webhook_secret],
        timeout=settings.callback_timeout,
        allow_hosts=settings.callback_allow_hosts,
    )
    delay = None if result.ok else _next_delay(settings, attempt, result)
    log.info(
        "callback for %s attempt %d: %s", record.id, attempt, result.status_code or result.error
    )
    return _record_attempt(record, attempt, result, delay)


@shared_task(bind=True, name=DELIVER_CALLBACK, max_retries=None)
def deliver_callback(self: Task[Any, Any], job_id: str) -> None:
    """Deliver the pending callback of ``job_id`` (one attempt), then schedule the next."""
    rt = runtime()
    lock = keys.callback_lock(job_id)
    hold = rt.settings.callback_timeout + 30
    if not rt.redis.set(lock, "1", nx=True, ex=int(hold)):
        return
    try:
        record = rt.store.get(job_id)
        callback = record.job.callback if record else None
        due_now = callback is not None and callback.status == CallbackStatus.PENDING
        if record is None or record.callback_event is None or not due_now:
            rt.redis.zrem(keys.CALLBACKS_DUE, job_id)
            return
        due = send(record)
    finally:
        rt.redis.delete(lock)
    if due is not None and due - time.time() <= MAX_COUNTDOWN:
        self.apply_async(args=(job_id,), countdown=max(0.0, due - time.time()))
