"""The consumer watchdog: a worker that stops taking messages while work waits leaves.

Celery has open bugs where a worker stays up and connected but no longer consumes after a
broker reconnect (queues.md §1: #8030, #8082, #9191, #10205/#10302); a PID or ping check does
not see that, only consumption does. Every quarter of ``consumer_stall_seconds`` the watchdog
looks at the queues this worker consumes: if messages wait there, the worker has a free slot
and has started no task since the last look, for ``consumer_stall_seconds`` in a row, it hands
its leases back and exits with status 4, for its supervisor (compose ``restart:``, Kubernetes)
to start a fresh one. Only a Redis broker can be looked at this way.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from celery.worker import state

from mistral_queue.tasks.runtime import Runtime

log = logging.getLogger(__name__)

#: Exit status of a worker that left because it stopped consuming.
EX_STALLED = 4


@dataclass
class StallCheck:
    """Decides, from successive looks, whether the consumer has stalled for ``limit`` seconds."""

    limit: float
    _since: float | None = None
    _started: int = -1

    def observe(self, *, now: float, waiting: int, free_slots: int, started: int) -> bool:
        """One look: ``waiting`` messages, ``free_slots`` idle slots, ``started`` tasks so far.

        Returns:
            True once the worker has had work waiting, a free slot and no new task for
            ``limit`` seconds (``now`` is monotonic seconds).
        """
        progressing = started != self._started or waiting == 0 or free_slots <= 0
        self._started = started
        if progressing:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        return now - self._since >= self.limit


@dataclass
class Watchdog:
    """Watches one worker process's consumer from a daemon thread."""

    consumer: Any
    rt: Runtime
    check: StallCheck
    _started: itertools.count[int] = field(default_factory=itertools.count)
    _count: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def task_started(self) -> None:
        """Count one task start (connect to Celery's ``task_prerun``)."""
        self._count = next(self._started) + 1

    def start(self) -> None:
        """Look every ``limit / 4`` seconds until stopped."""
        thread = threading.Thread(target=self._loop, name="mq-watchdog", daemon=True)
        thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        broker = redis.Redis.from_url(self.rt.settings.broker, socket_timeout=5)
        while not self._stop.wait(self.check.limit / 4):
            try:
                waiting = sum(broker.llen(q.name) for q in self.consumer.task_consumer.queues)
            except (redis.RedisError, AttributeError):
                # Broker down or consumer reconnecting: nothing to judge this time.
                continue
            free = self.consumer.pool.num_processes - len(state.active_requests)
            now = time.monotonic()
            if self.check.observe(now=now, waiting=waiting, free_slots=free, started=self._count):
                self._leave(waiting)

    def _leave(self, waiting: int) -> None:
        handed = self.rt.leases.hand_back()
        log.critical(
            "consumer stalled: %d message(s) waiting, free slots and no task for %.0f s; "
            "exiting for a restart (handed back %d job(s))",
            waiting,
            self.check.limit,
            len(handed),
        )
        logging.shutdown()
        os._exit(EX_STALLED)


def watches(broker_url: str) -> bool:
    """Whether the watchdog can look at this broker (Redis only)."""
    return broker_url.startswith(("redis://", "rediss://", "unix://"))
