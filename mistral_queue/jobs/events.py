"""Reading event logs (Redis Streams): replay from a position, then follow live.

An event's id is its stream entry id (``<ms>-<seq>``), which SSE clients send back as
``Last-Event-ID`` to resume without losing or repeating anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aredis

#: Events after which a job's log only grows by callback events.
FINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.cancelled"})

#: A log position: a stream entry id (``<ms>-<seq>``), or ``0`` for the very start.
POSITION = r"^(0|\d{1,20}-\d{1,20})$"


@dataclass(frozen=True)
class Event:
    """One entry of an event log."""

    id: str
    type: str
    job_id: str
    time: str
    data: Any

    def as_dict(self) -> dict[str, Any]:
        """``{"id", "type", "job_id", "time", "data"}``."""
        return {"id": self.id, "type": self.type, "job_id": self.job_id, "time": self.time,
                "data": self.data}  # fmt: skip

    @property
    def is_final(self) -> bool:
        return self.type in FINAL_EVENTS


def parse(entries: Any) -> list[Event]:
    """Events from XRANGE / XREAD entries."""
    return [
        Event(eid, f["type"], f["job_id"], f.get("time", ""), orjson.loads(f.get("data", "null")))
        for eid, f in entries
    ]


class EventLog:
    """Replays and follows streams through an asyncio Redis client."""

    def __init__(self, client: aredis.Redis) -> None:
        self.redis = client

    async def page(self, key: str, after: str | None, count: int) -> list[Event]:
        """Up to ``count`` events after position ``after`` (exclusive; None = from the start)."""
        start = f"({after}" if after and after != "0" else "-"
        return parse(await self.redis.xrange(key, start, "+", count=count))

    async def follow(
        self,
        key: str,
        after: str | None,
        *,
        keep: Callable[[Event], bool] = lambda _: True,
        stop: Callable[[Event], bool] = lambda _: False,
        block_ms: int = 5000,
        still_open: Callable[[], Any] | None = None,
    ) -> AsyncIterator[Event]:
        """Every event after ``after``, replayed then live, until ``stop`` says so.

        Args:
            key: the stream.
            after: the last position the client has (exclusive), or None.
            keep: which events to yield (all are used for the position and ``stop``).
            stop: ends the iteration after yielding (or skipping) that event.
            block_ms: milliseconds one XREAD waits before checking ``still_open``.
            still_open: awaited after an idle wait; a falsy answer ends the iteration.
        """
        position = after or "0"
        while True:
            replies: Any = await self.redis.xread({key: position}, count=500, block=block_ms)
            batch = parse(replies[0][1]) if replies else []
            if not batch and still_open is not None and not await still_open():
                return
            for event in batch:
                position = event.id
                if keep(event):
                    yield event
                if stop(event):
                    return
