"""Recurring schedules: when each fires, how a tick is claimed, and their Redis records.

A schedule is a hash (``keys.schedule``) with ``cron`` (five fields, evaluated by ``cronsim``
in ``timezone``) or ``every_seconds``, and the ``job`` body each firing submits. Active ones
are in ``keys.SCHEDULES_DUE`` scored by their next tick. The scheduler's leader fires a due
tick by creating the job under an idempotency key of that tick, then claiming the tick with a
compare-and-set of its score (``CLAIM``): a crash between the two steps re-creates nothing
(the key returns the job made before), and two leaders cannot both advance the tick, so each
tick makes exactly one job however many workers run.

Missed ticks (every worker down, Redis down): the first pass afterwards fires the earliest
missed tick once, late, and skips the others, counting them in ``missed_runs``
(docs/scheduling.md).
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from cronsim import CronSim, CronSimError
from pydantic import BaseModel

from mistral_queue.jobs.model import iso

#: Compare-and-set of a schedule's tick: advance it only if it is still ``ARGV[2]`` and active.
#: KEYS: schedules due, schedule hash; ARGV: id, claimed tick, next tick, job id, skipped ticks.
CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[2], 'paused') == '1' then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], 'next_run_ts', ARGV[3], 'last_run_ts', ARGV[2],
  'last_job_id', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'runs', 1)
redis.call('HINCRBY', KEYS[2], 'missed_runs', tonumber(ARGV[5]))
return 1
"""


class ScheduleError(ValueError):
    """Raised for a cron expression or time zone that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def new_schedule_id() -> str:
    """A fresh opaque schedule id, ``sch_`` + 26 random base32hex characters."""
    return "sch_" + format(secrets.randbits(130), "x")[:26].rjust(26, "0")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        ScheduleError: unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        raise ScheduleError("timezone", f"unknown time zone {name!r}") from None


def check_cron(expr: str, tz: str) -> None:
    """Raise :class:`ScheduleError` if ``expr`` is not a usable five-field cron expression."""
    if len(expr.split()) != 5:
        raise ScheduleError("cron", "five fields: minute hour day-of-month month day-of-week")
    try:
        next(CronSim(expr, datetime.now(zone(tz))))
    except (CronSimError, StopIteration) as exc:
        raise ScheduleError("cron", str(exc) or "never fires") from None


def next_tick(spec: dict[str, str], after: float, last: float | None = None) -> float:
    """The first tick strictly after ``after`` (unix s).

    ``spec`` has ``cron`` and ``timezone``, or ``every_seconds``; an ``every_seconds`` schedule
    keeps its phase from ``last`` (its previous tick) when given.
    """
    if spec.get("cron"):
        start = datetime.fromtimestamp(after, zone(spec.get("timezone") or "UTC"))
        return next(CronSim(spec["cron"], start)).timestamp()
    every = float(spec["every_seconds"])
    if last is None:
        return after + every
    return last + every * (math.floor((after - last) / every) + 1)


#: Most skipped cron ticks counted after one outage (each is one cron evaluation).
MAX_MISSED_COUNT = 10_000


def missed(spec: dict[str, str], tick: float, now: float) -> int:
    """Ticks after ``tick`` and up to ``now`` that the catch-up firing of ``tick`` skips
    (for ``cron``, counted up to ``MAX_MISSED_COUNT``)."""
    if not spec.get("cron"):
        return max(0, math.floor((now - tick) / float(spec["every_seconds"])))
    count, at = 0, tick
    while count < MAX_MISSED_COUNT and (at := next_tick(spec, at, at)) <= now:
        count += 1
    return count


class Schedule(BaseModel):
    """A schedule as the API returns it."""

    id: str
    cron: str | None = None
    every_seconds: float | None = None
    timezone: str = "UTC"
    job: dict[str, Any]
    paused: bool = False
    created_at: str
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_job_id: str | None = None
    runs: int = 0
    missed_runs: int = 0

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Schedule:
        """Decode a schedule hash (HGETALL, ``decode_responses=True``)."""
        paused = raw.get("paused") == "1"
        return cls(
            id=raw["id"],
            cron=raw.get("cron") or None,
            every_seconds=float(raw["every_seconds"]) if raw.get("every_seconds") else None,
            timezone=raw.get("timezone") or "UTC",
            job=orjson.loads(raw["job"]),
            paused=paused,
            created_at=raw["created_at"],
            next_run_at=None if paused else iso(float(raw["next_run_ts"])),
            last_run_at=iso(float(raw["last_run_ts"])) if raw.get("last_run_ts") else None,
            last_job_id=raw.get("last_job_id") or None,
            runs=int(raw.get("runs", 0)),
            missed_runs=int(raw.get("missed_runs", 0)),
        )


def tick_key(schedule_id: str, tick: float) -> str:
    """The idempotency key of one tick's job; a newline, which no ``Idempotency-Key`` header
    can hold, keeps it apart from callers' keys."""
    return f"\nschedule {schedule_id} {tick!r}"
