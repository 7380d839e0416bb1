"""Reading event logs (Redis Streams) page by page; ``api/fanout.py`` follows them live.

An event's id is its stream entry id (``<ms>-<seq>``), which SSE clients send back as
``Last-Event-ID`` to resume without losing or repeating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aredis

#: Events after which a job's log only grows by callback events.
FINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.cancelled"})

#: A log position: a stream entry id (``<ms>-<seq>``), or ``0`` for the very start. At most
#: 19 digits each, so both parts fit Redis' unsigned 64-bit stream ids.
POSITION = r"^(0|\d{1,19}-\d{1,19})$"


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
