"""Delivery to registered endpoints: fan a job's event out, then one task per endpoint.

A job without ``callback_url`` is delivered to each enabled endpoint of its tenant whose
``event_types`` match (``fan_out``). Each (endpoint, job, event) message has its own retry
schedule (``callback_retry_delays``), its own owner-token lock, its endpoint's share of
delivery slots and its ``rate_limit`` (``callback_slots``), and every attempt is appended to
the endpoint's attempt log. The ``webhook-id`` is the one a ``callback_url`` would get for
the same event, so ``recover`` re-sends with the same ids. A delay longer than a safe Celery
countdown is waited out in hops of at most ``MAX_COUNTDOWN`` seconds.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from celery import Celery, Task, shared_task

from mistral_queue.broker import dispatch
from mistral_queue.broker.names import DELIVER_TO_ENDPOINT, FAN_OUT_TO_ENDPOINTS
from mistral_queue.jobs import endpoint_state, keys, locks
from mistral_queue.tasks import callback_slots
from mistral_queue.tasks.callbacks import (
    EARLY_TOLERANCE,
    LOCK_MARGIN,
    MAX_COUNTDOWN,
    next_delay,
    payload,
)
from mistral_queue.tasks.callbacks import event_type as payload_type
from mistral_queue.tasks.runtime import Runtime, runtime
from mistral_queue.webhooks.delivery import DeliveryResult, deliver
from mistral_queue.webhooks.endpoints import StoredEndpoint
from mistral_queue.webhooks.signing import event_id

log = logging.getLogger(__name__)


def publish(
    app: Celery, endpoint_id: str, job_id: str, event: str, countdown: float = 0, busy: int = 0
) -> None:
    """Publish one endpoint delivery, at most ``MAX_COUNTDOWN`` seconds out (longer waits go
    in hops, so no message outlives the broker's visibility timeout)."""
    wait = max(0.0, min(countdown, MAX_COUNTDOWN))
    dispatch.deliver_to_endpoint(app, endpoint_id, job_id, event, countdown=wait, busy=busy)


def fan_out(app: Celery, tenant: str, job_id: str, event: str | None = None) -> int:
    """Open a delivery of ``event`` to every matching endpoint of ``tenant``; returns how many.

    ``event`` defaults to ``job.<status>`` of the job as stored now (read only when the
    tenant has endpoints: a tenant without any costs one Redis round trip).
    """
    rt = runtime()
    endpoints = endpoint_state.of_tenant(rt.redis, tenant)
    if not endpoints:
        return 0
    if event is None:
        record = rt.store.get(job_id)
        if record is None:
            return 0
        # A retried job's new outcome is a new message, as for callback_url (``event_key``).
        retries = record.job.retries
        event = f"job.{record.job.status.value}" + (f".run{retries + 1}" if retries else "")
    ttl = rt.settings.job_retention_seconds
    sent = 0
    for endpoint in endpoints:
        if not endpoint.matches(payload_type(event)):
            continue
        if endpoint_state.open_message(rt.redis, endpoint.endpoint.id, job_id, event, ttl):
            publish(app, endpoint.endpoint.id, job_id, event)
            sent += 1
    return sent


@shared_task(bind=True, name=FAN_OUT_TO_ENDPOINTS)
def fan_out_task(self: Task[Any, Any], job_id: str, tenant: str) -> None:
    """``fan_out`` of the job's current event, for a job that ended in the API (cancel)."""
    fan_out(self.app, tenant, job_id)


@shared_task(bind=True, name=DELIVER_TO_ENDPOINT, max_retries=None)
def deliver_to_endpoint(
    self: Task[Any, Any], endpoint_id: str, job_id: str, event: str, busy: int = 0
) -> None:
    """One attempt of ``event`` of ``job_id`` to ``endpoint_id`` if due, then schedule the next.

    ``busy``: how many times in a row this message found no delivery slot.
    """
    rt = runtime()
    try:
        due = _attempt(rt, endpoint_id, job_id, event)
    except callback_slots.Busy:
        delay = callback_slots.busy_delay(rt, busy + 1)
        publish(self.app, endpoint_id, job_id, event, countdown=delay, busy=busy + 1)
        return
    if due is not None:
        publish(self.app, endpoint_id, job_id, event, countdown=due - time.time())


def _attempt(rt: Runtime, endpoint_id: str, job_id: str, event: str) -> float | None:
    """Returns when to look again (unix s), or None when there is nothing more to do."""
    hold = rt.settings.callback_timeout + LOCK_MARGIN
    lock = keys.endpoint_message(endpoint_id, job_id, event) + ":lock"
    with locks.held(rt.redis, lock, hold) as taken:
        if not taken:
            return None
        endpoint = endpoint_state.load(rt.redis, endpoint_id)
        state = endpoint_state.message(rt.redis, endpoint_id, job_id, event)
        if endpoint is None or endpoint.endpoint.disabled or state.get("status") != "pending":
            return None
        due = float(state.get("next_attempt_at") or 0)
        if due > time.time() + EARLY_TOLERANCE:
            return due
        wait = _rate_wait(rt, endpoint)
        if wait:
            return time.time() + wait
        with callback_slots.delivery_slot(rt, endpoint_id, hold):
            return _send(rt, endpoint, job_id, event, int(state.get("attempts") or 0) + 1)


def _rate_wait(rt: Runtime, endpoint: StoredEndpoint) -> float:
    """Seconds until the endpoint's ``rate_limit`` (attempts per second) has room; 0: now."""
    limit = endpoint.endpoint.rate_limit
    if limit is None:
        return 0.0
    now = time.time()
    key = f"{keys.endpoint(endpoint.endpoint.id)}:rate:{int(now)}"
    pipe = rt.redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 2)
    count = int(pipe.execute()[0])
    return 0.0 if count <= limit else (int(now) + 1 - now) + (count - limit - 1) / limit


def _send(
    rt: Runtime, endpoint: StoredEndpoint, job_id: str, event: str, attempt: int
) -> float | None:
    record = rt.store.get(job_id)
    if record is None:
        return None
    msg_id = event_id(job_id, event)
    started = time.time()
    try:
        result = deliver(
            endpoint.endpoint.url,
            msg_id,
            payload(record, event),
            secrets=endpoint.signing_keys(),
            timeout=rt.settings.callback_timeout,
            allow_hosts=rt.settings.callback_allow_hosts,
        )
    except Exception as exc:
        log.exception("delivery of %s to %s crashed", job_id, endpoint.endpoint.id)
        error = f"internal error: {type(exc).__name__}"
        result = DeliveryResult(False, None, None, False, error, time.time() - started)
    delay = None if result.ok else next_delay(rt.settings, attempt, result)
    due = None if delay is None else time.time() + delay
    status = "delivered" if result.ok else ("failed" if due is None else "pending")
    entry = {
        "id": f"atmpt_{secrets.token_hex(8)}",
        "job_id": job_id,
        "event": event,
        "event_type": payload_type(event),
        "webhook_id": msg_id,
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": round(result.duration * 1000),
        "attempted_at": endpoint_state.now_iso(started),
    }
    state = {"status": status, "attempts": str(attempt), "next_attempt_at": str(due or 0)}
    failed_at = time.time() if status == "failed" else None
    endpoint_state.record_attempt(rt.redis, endpoint.endpoint.id, entry, state, failed_at)
    _note(rt, endpoint, result)
    return due


def _note(rt: Runtime, endpoint: StoredEndpoint, result: DeliveryResult) -> None:
    """Disable an endpoint that answered 410 or has failed for too long, with an event."""
    if result.gone:
        key = keys.endpoint(endpoint.endpoint.id)
        if rt.redis.hget(key, "disabled") != "1":
            rt.redis.hset(key, mapping={"disabled": "1", "updated_at": endpoint_state.now_iso()})
            endpoint_state.log_disabled(rt.redis, endpoint, "the endpoint answered 410 Gone")
        return
    limit = rt.settings.endpoint_disable_after_seconds
    if endpoint_state.note_outcome(rt.redis, endpoint, result.ok, limit):
        endpoint_state.log_disabled(rt.redis, endpoint, f"failing for over {limit:g} s")
