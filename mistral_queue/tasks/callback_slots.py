"""Where a callback attempt may run: the worker's delivery budget and the endpoint's share.

Deliveries run on the callbacks queue, never in a job's task, so a receiver that hangs holds
no job slot. Two caps keep hanging receivers from holding every delivery slot too:

- each worker process runs at most ``callback_concurrency`` attempts at once (its delivery
  budget, so the rest of its threads stay free for jobs when one worker serves all queues);
- each endpoint has at most ``callback_endpoint_concurrency`` attempts in flight across the
  whole deployment: a Redis semaphore with owner tokens (``jobs.locks``) whose slots lapse
  after an attempt's deadline, so a worker that died holding one frees it.

An attempt that finds no room is not made and not counted: it raises ``Busy`` and the task
publishes itself again later, waiting longer each time it finds no room (``busy_delay``), so
thousands of messages queued for a hanging receiver cost a trickle of broker traffic.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from mistral_queue.jobs import keys, locks
from mistral_queue.tasks.runtime import Runtime

_budget_lock = threading.Lock()
_budgets: dict[int, threading.BoundedSemaphore] = {}


def _budget(size: int) -> threading.BoundedSemaphore:
    with _budget_lock:
        budget = _budgets.get(size)
        if budget is None:
            budget = _budgets[size] = threading.BoundedSemaphore(size)
        return budget


def origin(url: str) -> str:
    """The endpoint a callback URL names: ``scheme://host:port`` in lower case."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


#: Longest wait, seconds, of a message that keeps finding its endpoint busy.
MAX_BUSY_DELAY = 60.0


class Busy(Exception):
    """No room for this attempt now: put it off without counting it."""


def busy_delay(rt: Runtime, busy: int) -> float:
    """Seconds before an attempt that found no room ``busy`` times in a row tries again.

    Half to all of ``min(callback_timeout, 5) * 2**(busy-1)``, at most ``MAX_BUSY_DELAY``:
    jittered so the messages waiting for one endpoint do not come back in lockstep.
    """
    base = min(rt.settings.callback_timeout, 5.0) * 2.0 ** min(max(busy - 1, 0), 16)
    return random.uniform(0.5, 1.0) * min(base, MAX_BUSY_DELAY)


@contextmanager
def delivery_slot(rt: Runtime, endpoint: str, hold: float) -> Iterator[None]:
    """Hold a slot of this worker's budget and one of ``endpoint``'s for the block.

    Args:
        rt: the worker runtime (settings, Redis).
        endpoint: what ``origin`` returns, or a registered endpoint's id.
        hold: seconds after which an endpoint slot lapses (longer than one attempt).

    Raises:
        Busy: the budget or the endpoint's share is full.
    """
    budget = _budget(rt.settings.callback_concurrency)
    if not budget.acquire(blocking=False):
        raise Busy(endpoint)
    try:
        key = keys.endpoint_slots(endpoint)
        with locks.slot(rt.redis, key, rt.settings.callback_endpoint_concurrency, hold) as ok:
            if not ok:
                raise Busy(endpoint)
            yield
    finally:
        budget.release()
