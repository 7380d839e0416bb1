"""Per-job leases: one worker at a time runs a job, even when the broker delivers it twice.

A lease is a Redis string holding a random token, set with NX and a TTL and renewed by one
background thread per process while the job runs. A worker that dies stops renewing, so the
lease lapses after ``ttl`` seconds and another worker may take the job over.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from mistral_queue.jobs import keys

log = logging.getLogger(__name__)

# Compare-and-delete / compare-and-extend, so a worker never touches a lease it lost. A lease
# that lapsed while nobody took it (Redis was unreachable longer than the TTL) is taken back,
# so the sweep does not hand a job that is still running to a second worker.
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_RENEW = (
    "local held = redis.call('GET', KEYS[1]) "
    "if held == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "if not held then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "return 0"
)


class Leases:
    """The leases one process holds, renewed every ``ttl / 3`` seconds by a daemon thread."""

    def __init__(self, client: redis.Redis, ttl: float) -> None:
        self.redis = client
        self.ttl_ms = int(ttl * 1000)
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        # Held around each renewal and each release, so a renewal never takes back a lease
        # that was just released.
        self._io = threading.Lock()
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
            self._held[job_id] = token
            self._ensure_renewer()
        try:
            yield True
        finally:
            with self._io:
                with self._lock:
                    self._held.pop(job_id, None)
                self._release(keys=[key], args=[token])

    def is_held(self, job_id: str) -> bool:
        """Whether any worker holds the job's lease now."""
        return bool(self.redis.exists(keys.job_lease(job_id)))

    def hand_back(self) -> list[str]:
        """Give up every lease this process holds and have the sweep look at those jobs now.

        For a worker that must exit while jobs still run (the shutdown grace period is over):
        another worker takes them over at the next sweep instead of after the lease lapses.
        The renewer stops, so leases this process takes afterwards are not renewed.

        Returns:
            The ids of the jobs handed back.
        """
        self._stop.set()
        with self._io:
            with self._lock:
                held = list(self._held.items())
                self._held.clear()
            return [job_id for job_id, token in held if self._give_up(job_id, token)]

    def _give_up(self, job_id: str, token: str) -> bool:
        try:
            self._release(keys=[keys.job_lease(job_id)], args=[token])
            self.redis.zadd(keys.JOBS_WATCH, {job_id: time.time()}, xx=True)
        except redis.RedisError as exc:
            log.warning("could not hand back %s (its lease lapses instead): %s", job_id, exc)
            return False
        return True

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
            for job_id, token in held:
                try:
                    self._renew_one(job_id, token)
                except redis.RedisError as exc:
                    # The next round tries again; a lapse only lets the sweep requeue the job.
                    log.warning("lease renewal failed for %s: %s", job_id, exc)

    def _renew_one(self, job_id: str, token: str) -> None:
        with self._io:
            if self._held.get(job_id) != token:
                return
            if not self._renew(keys=[keys.job_lease(job_id)], args=[token, self.ttl_ms]):
                log.warning("lease on %s was taken by another worker", job_id)
