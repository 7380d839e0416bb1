"""SSE fan-out: one Redis reader per stream per API process, shared by all its subscribers.

Without it every subscriber runs its own blocking XREAD, so N subscribers of one job cost N
round trips and N parses per event. A :class:`Topic` reads the stream once and hands each event
to every subscriber's queue. A subscriber joins the topic *before* replaying the log from its
position, then skips live events it already replayed: nothing is lost between replay and live,
and nothing is repeated. A subscriber that falls too far behind is dropped; its client resumes
with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aredis

from mistral_queue.jobs.events import Event, EventLog, parse

log = logging.getLogger(__name__)

#: Events one subscriber may have waiting before it is dropped (it then resumes by itself).
QUEUE_LIMIT = 10_000
#: Milliseconds one XREAD blocks; also how often a quiet subscriber re-checks its job.
BLOCK_MS = 5000


def _position(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Lagging(Exception):
    """Raised in a subscriber that fell more than QUEUE_LIMIT events behind."""


class Topic:
    """One stream read by one task for every subscriber of this process."""

    def __init__(self, client: aredis.Redis, key: str, start: str) -> None:
        self.client = client
        self.key = key
        self.position = start
        self.queues: set[asyncio.Queue[Event | Lagging]] = set()
        self.task = asyncio.create_task(self._pump(), name=f"fanout {key}")

    async def _pump(self) -> None:
        while self.queues:
            try:
                replies: Any = await self.client.xread(
                    {self.key: self.position}, count=500, block=BLOCK_MS
                )
            except Exception as exc:
                log.warning("fan-out of %s stopped: %s", self.key, exc)
                for queue in list(self.queues):
                    queue.put_nowait(Lagging())
                return
            for event in parse(replies[0][1]) if replies else []:
                self.position = event.id
                for queue in list(self.queues):
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:
                        self.queues.discard(queue)
                        queue.get_nowait()
                        queue.put_nowait(Lagging())


class Hub:
    """The topics of one API process, created on first subscriber, gone after the last."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.log = EventLog(client)
        self.topics: dict[str, Topic] = {}

    async def _join(self, key: str) -> tuple[Topic, asyncio.Queue[Event | Lagging]]:
        topic = self.topics.get(key)
        if topic is None or topic.task.done():
            last: Any = await self.client.xrevrange(key, count=1)
            topic = Topic(self.client, key, last[0][0] if last else "0")
            self.topics[key] = topic
        queue: asyncio.Queue[Event | Lagging] = asyncio.Queue(QUEUE_LIMIT)
        topic.queues.add(queue)
        return topic, queue

    def _leave(self, key: str, topic: Topic, queue: asyncio.Queue[Event | Lagging]) -> None:
        topic.queues.discard(queue)
        if not topic.queues:
            topic.task.cancel()
            if self.topics.get(key) is topic:
                del self.topics[key]

    async def follow(
        self,
        key: str,
        after: str | None,
        *,
        keep: Callable[[Event], bool] = lambda _: True,
        stop: Callable[[Event], bool] = lambda _: False,
        still_open: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[Event]:
        """Every event after ``after``: replayed, then live, until ``stop`` or ``still_open``.

        Raises:
            Lagging: the subscriber fell too far behind (the client should resume).
        """
        topic, queue = await self._join(key)
        try:
            last = after
            async for event in self._replay(key, after):
                last = event.id
                if keep(event):
                    yield event
                if stop(event):
                    return
            async for event in _live(queue, last, still_open):
                if keep(event):
                    yield event
                if stop(event):
                    return
        finally:
            self._leave(key, topic, queue)

    async def _replay(self, key: str, after: str | None) -> AsyncIterator[Event]:
        """The log after ``after``, page by page."""
        last = after or "0"
        while True:
            page = await self.log.page(key, last, 500)
            for event in page:
                last = event.id
                yield event
            if len(page) < 500:
                return

    async def close(self) -> None:
        """Stop every reader (at shutdown)."""
        for topic in list(self.topics.values()):
            topic.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await topic.task
        self.topics.clear()


async def _live(
    queue: asyncio.Queue[Event | Lagging],
    after: str | None,
    still_open: Callable[[], Awaitable[bool]] | None,
) -> AsyncIterator[Event]:
    """Events from the topic's queue newer than ``after``, until ``still_open`` says no."""
    seen = _position(after or "0")
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), BLOCK_MS / 1000)
        except TimeoutError:
            if still_open is not None and not await still_open():
                return
            continue
        if isinstance(item, Lagging):
            raise item
        if _position(item.id) > seen:
            yield item
