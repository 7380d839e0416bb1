"""Per-job leases: one worker at a time runs a job, even when the broker delivers it twice.

A lease is a Redis string holding a random token, set with NX and a TTL and renewed by one
background thread per process while the job runs. A worker that dies stops renewing, so the
lease lapses after ``ttl`` seconds and another worker may take the job over.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from mistral_queue.jobs import keys

log = logging.getLogger(__name__)

# Compare-and-delete / compare-and-extend, so a worker never touches a lease it lost.
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


class Leases:
    """The leases one process holds, renewed every ``ttl / 3`` seconds by a daemon thread."""

    def __init__(self, client: redis.Redis, ttl: float) -> None:
        self.redis = client
        self.ttl_ms = int(ttl * 1000)
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, job_id: str) -> Iterator[bool]:
        """Try to take the job's lease; yields whether it was taken, releases it on exit."""
        key = keys.job_lease(job_id)
        token = secrets.token_hex(8)
        if not self.redis.set(key, token, nx=True, px=self.ttl_ms):
            yield False
            return
        with self._lock:
            self._held[key] = token
            self._ensure_renewer()
        try:
            yield True
        finally:
            with self._lock:
                self._held.pop(key, None)
            self._release(keys=[key], args=[token])

    def is_held(self, job_id: str) -> bool:
        """Whether any worker holds the job's lease now."""
        return bool(self.redis.exists(keys.job_lease(job_id)))

    def close(self) -> None:
        """Stop renewing (the held leases then lapse after their TTL)."""
        self._stop.set()

    def _ensure_renewer(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._renew_loop, name="lease-renewer", daemon=True
            )
            self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            with self._lock:
                held = list(self._held.items())
            for key, token in held:
                try:
                    self._renew(keys=[key], args=[token, self.ttl_ms])
                except redis.RedisError as exc:
                    # The next round tries again; a lapse only lets the sweep requeue the job.
                    log.warning("lease renewal failed for %s: %s", key, exc)
