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
from celery import Celery, Task, shared_task

from mistral_queue import tracing
from mistral_queue.broker import dispatch
from mistral_queue.broker.names import DELIVER_CALLBACK
from mistral_queue.config import Settings
from mistral_queue.jobs import changes, keys, locks
from mistral_queue.jobs import fields as hash_fields
from mistral_queue.jobs.errors import InvalidTransition
from mistral_queue.jobs.model import CallbackStatus, JobRecord, JobStatus, now_iso
from mistral_queue.tasks import callback_slots
from mistral_queue.tasks.runtime import runtime
from mistral_queue.webhooks.delivery import DeliveryResult, deliver
from mistral_queue.webhooks.signing import event_id
from mistral_queue.webhooks.tenant_secrets import tenant_signing_keys

log = logging.getLogger(__name__)

#: Longest wait (seconds) scheduled as a Celery countdown; longer ones go through the sweep.
MAX_COUNTDOWN = 600.0

#: Seconds before its due time an attempt may run anyway (Celery ETAs are not exact).
EARLY_TOLERANCE = 1.0


def payload(record: JobRecord, event: str | None = None) -> bytes:
    """The callback body: ``{"type", "timestamp", "data": <job>}`` (Standard Webhooks §Payload).

    ``event`` defaults to the job's pending callback event, else ``job.<status>``.
    """
    job = record.job
    event = event or record.callback_event or f"job.{job.status.value}"
    body = {
        "type": event_type(event),
        # Only a final job has finished_at; a requires_action callback is about now.
        "timestamp": job.finished_at or now_iso(),
        # The tenant, so a receiver shared by several tenants knows whose secret to expect.
        "data": {**job.model_dump(mode="json"), "tenant": record.tenant},
    }
    return orjson.dumps(body)


def event_type(event: str) -> str:
    """The payload ``type`` of a callback event key: a requires_action round's key
    (``job.requires_action.2``, which makes its webhook-id unique) is ``job.requires_action``,
    and a retried run's (``job.succeeded.run2``, see ``event_key``) is ``job.succeeded``."""
    interim = changes.REQUIRES_ACTION_EVENT
    if event.startswith(f"{interim}."):
        return interim
    head, _, tail = event.rpartition(".run")
    return head if head and tail.isdigit() else event


def event_key(record: JobRecord) -> str:
    """What the callback's ``webhook-id`` names: its event, and the run after a retry.

    A retried job's new outcome is a new message (``job.succeeded.run2``), while every
    delivery attempt of one run keeps one id.
    """
    event = record.callback_event or "job.final"
    retries = record.job.retries
    return f"{event}.run{retries + 1}" if retries else event


def next_delay(settings: Settings, attempt: int, result: DeliveryResult) -> float | None:
    """Seconds until the next attempt after failed attempt ``attempt``, or None: give up.

    A receiver's ``Retry-After`` can only lengthen the wait, and only up to the schedule's
    longest delay: an unreadable or absurd one (``10000000000000``) is clamped to it, so it
    can neither crash the scheduling nor park the callback for ever.
    """
    delays = settings.callback_retry_delays
    if result.gone or attempt > len(delays):
        return None
    asked = min(result.retry_after or 0.0, max(delays))
    return max(delays[attempt - 1], asked)


def _record_attempt(
    record: JobRecord, attempt: int, result: DeliveryResult, delay: float | None
) -> float | None:
    """Store the attempt on the job; return when the next one is due (unix time), if any."""
    fields = {
        hash_fields.CALLBACK_ATTEMPTS: str(attempt),
        hash_fields.CALLBACK_LAST_STATUS_CODE: str(result.status_code or ""),
        hash_fields.CALLBACK_LAST_ERROR: result.error or "",
    }
    data: dict[str, Any] = {"attempt": attempt, "status_code": result.status_code}
    # An empty value removes the field: only a pending retry has a next attempt time.
    fields[hash_fields.CALLBACK_NEXT_ATTEMPT_AT] = ""
    if result.ok:
        status, event, due = CallbackStatus.DELIVERED, "callback.delivered", None
    elif delay is None:
        status, event, due = CallbackStatus.FAILED, "callback.failed", None
        data["error"] = result.error
    else:
        status, event, due = CallbackStatus.PENDING, "callback.retrying", time.time() + delay
        data |= {"error": result.error, "delay": delay}
        fields[hash_fields.CALLBACK_NEXT_ATTEMPT_AT] = datetime.fromtimestamp(due, UTC).isoformat()
    fields[hash_fields.CALLBACK_STATUS] = status.value
    if not record.is_final:
        return _record_interim(record, fields, event, data, due)
    change = changes.callback_attempt(
        fields=fields, event=event, data=data, due="remove" if due is None else due
    )
    runtime().store.apply(record.id, record.tenant, change)
    return due


def _record_interim(
    record: JobRecord, fields: dict[str, str], event: str, data: dict[str, Any], due: float | None
) -> float | None:
    """Record an attempt of a requires_action callback, only while the job still waits.

    Once it is sent (or given up), the callback fields go back to "pending, nothing to send",
    so the job's final callback gets its own schedule and its own webhook-id.
    """
    rt = runtime()
    if rt.redis.hget(keys.job(record.id), hash_fields.CALLBACK_EVENT) != record.callback_event:
        return None
    data["event"] = record.callback_event
    if due is None:
        fields |= {
            hash_fields.CALLBACK_STATUS: CallbackStatus.PENDING.value,
            hash_fields.CALLBACK_EVENT: "",
            hash_fields.CALLBACK_ATTEMPTS: "0",
        }
    change = changes.callback_attempt(
        fields=fields,
        event=event,
        data=data,
        due="remove" if due is None else due,
        allowed=frozenset({JobStatus.REQUIRES_ACTION}),
    )
    try:
        rt.store.apply(record.id, record.tenant, change)
    except InvalidTransition:
        log.info("job %s no longer waits for tool results; dropping its callback", record.id)
        return None
    return due


def send(record: JobRecord) -> float | None:
    """POST the job's callback once; return when the next attempt is due, or None when done.

    The attempt is counted and recorded whatever happens while sending: an unexpected error
    counts as a failed attempt, so the schedule still advances to ``failed``.
    """
    rt = runtime()
    settings = rt.settings
    assert record.job.callback.url is not None
    attempt = record.job.callback.attempts + 1
    url, msg_id = record.job.callback.url, event_id(record.id, event_key(record))
    started = time.monotonic()
    with tracing.callback_span(url, msg_id, attempt, record.traceparent) as span:
        try:
            result = deliver(
                url,
                msg_id,
                payload(record),
                secrets=tenant_signing_keys(rt.redis, settings, record.tenant),
                timeout=settings.callback_timeout,
                allow_hosts=settings.callback_allow_hosts,
            )
        except Exception as exc:
            log.exception("callback for %s attempt %d crashed", record.id, attempt)
            error = f"internal error: {type(exc).__name__}"
            result = DeliveryResult(False, None, None, False, error, time.monotonic() - started)
        tracing.record_delivery(span, result.status_code, result.error)
    delay = None if result.ok else next_delay(settings, attempt, result)
    log.info(
        "callback for %s attempt %d: %s", record.id, attempt, result.status_code or result.error
    )
    return _record_attempt(record, attempt, result, delay)


def is_due(record: JobRecord, now: float) -> bool:
    """Whether the job's callback is pending and its next attempt time (if any) has come.

    A duplicate message (a sweep resend, a broker redelivery) that arrives before the
    scheduled retry must not spend an attempt of the schedule early.
    """
    callback = record.job.callback
    if record.callback_event is None or callback.status != CallbackStatus.PENDING:
        return False
    if callback.next_attempt_at is None:
        return True
    due = datetime.fromisoformat(callback.next_attempt_at).timestamp()
    return due <= now + EARLY_TOLERANCE


@shared_task(bind=True, name=DELIVER_CALLBACK, max_retries=None)
def deliver_callback(self: Task[Any, Any], job_id: str, busy: int = 0) -> None:
    """Deliver the pending callback of ``job_id`` (one attempt), then schedule the next.

    A message for a callback that is not pending is dropped (and the job leaves the due set);
    one that comes before the next attempt is due is dropped too: the scheduled message, or
    the sweep, sends it on time.
    """
    deliver_now(self.app, job_id, busy)


def deliver_now(app: Celery, job_id: str, busy: int = 0) -> None:
    """One delivery attempt of ``job_id``'s pending callback, then schedule the next.

    ``busy``: how many times in a row this message found no delivery slot.
    """
    try:
        due = _attempt(job_id)
    except callback_slots.Busy:
        delay = callback_slots.busy_delay(runtime(), busy + 1)
        dispatch.deliver_callback(app, job_id, countdown=delay, busy=busy + 1)
        return
    if due is not None and due - time.time() <= MAX_COUNTDOWN:
        dispatch.deliver_callback(app, job_id, countdown=max(0.0, due - time.time()))


#: Seconds a callback lock outlives its attempt's deadline (the guard's DNS lookup, Redis).
LOCK_MARGIN = 10.0


def _attempt(job_id: str) -> float | None:
    """Send the callback if it is pending and due; returns when the next attempt is due.

    One attempt at a time per job and event: an owner-token lock that lapses only after the
    attempt's total deadline (``webhooks.deadline``) and that only its owner releases. The
    attempt also needs room in the worker's delivery budget and the endpoint's share
    (``callback_slots``); without it, it is put off without being counted.
    """
    rt = runtime()
    hold = rt.settings.callback_timeout + LOCK_MARGIN
    with locks.held(rt.redis, keys.callback_lock(job_id), hold) as taken:
        if not taken:
            return None
        record = rt.store.get(job_id)
        pending = record is not None and record.job.callback.status == CallbackStatus.PENDING
        if record is None or record.callback_event is None or not pending:
            rt.redis.zrem(keys.CALLBACKS_DUE, job_id)
            return None
        if not is_due(record, time.time()):
            log.info("callback for %s is not due yet; dropping an early message", job_id)
            return None
        assert record.job.callback.url is not None
        endpoint = callback_slots.origin(record.job.callback.url)
        with callback_slots.delivery_slot(rt, endpoint, hold):
            return send(record)
