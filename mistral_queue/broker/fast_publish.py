"""The fast path behind the API's Publisher (broker/dispatch.py): task messages without kombu.

With a Redis broker a task message is written straight to its queue's list with
redis.asyncio: one pipelined round trip carries the message and Celery's ``task-sent`` event,
with no thread hop, no kombu producer pool and no Redis client built per publish (the Celery
publish was over half the API's CPU: perf-baseline.md §3, bench/RESULTS.md). The message is
Celery's task protocol v2 in kombu's Redis envelope, the same as ``send_task`` writes
(tests/integration/test_fast_publish.py runs real workers on it). Other brokers (RabbitMQ
``amqp://``), and settings that change what ``send_task`` would write, use ``send_task`` in a
worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import orjson
import redis.asyncio as aredis
from celery import Celery, signals
from celery.utils.nodenames import anon_nodename
from celery.utils.time import utcoffset
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

#: One task to send: name, args, queue, task id (None: a fresh one), extra headers.
Send = tuple[str, list[Any], str, str | None, Mapping[str, str] | None]

#: kombu Redis transport options that rename keys or channels the fast path writes.
KEY_CHANGING_OPTIONS = frozenset(
    {"global_keyprefix", "fanout_prefix", "fanout_patterns", "sep", "priority_steps"}
)

#: Protocol v2 body tail: no callbacks, errbacks, chain or chord (Celery "Message Protocol").
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _b64json(value: Any) -> str:
    return base64.b64encode(orjson.dumps(value)).decode()


def fast_path_db(app: Celery) -> int | None:
    """The Redis db the fast path writes to, or None when ``send_task`` must be used.

    The fast path writes exactly what ``send_task`` would only when the broker is plain Redis,
    messages are JSON protocol v2 without priority, key names are kombu's defaults, and no
    publish signal handler expects to run.
    """
    conf = app.conf
    url = urlsplit(conf.broker_url or "")
    options = set(conf.broker_transport_options or {})
    plain = (
        url.scheme in ("redis", "rediss")
        and not options & KEY_CHANGING_OPTIONS
        and conf.task_protocol == 2
        and conf.task_serializer == "json"
        and conf.event_serializer == "json"
        and conf.task_default_priority is None
        and conf.task_default_delivery_mode in (2, "persistent")
        and not signals.before_task_publish.receivers
        and not signals.after_task_publish.receivers
    )
    if not plain:
        return None
    path = url.path.strip("/")
    return int(path) if path.isdigit() else 0


def task_message(name: str, args: list[Any], task_id: str, queue: str, *, origin: str,
                 reply_to: str, extra_headers: Mapping[str, str] | None = None,
                 ) -> dict[str, Any]:  # fmt: skip
    """A Celery protocol v2 task message in kombu's Redis envelope, as ``send_task`` builds it.

    Args:
        name: the registered task name.
        args: positional arguments (JSON-serialisable); no keyword arguments.
        task_id: the task id (and root id: the task has no parent).
        queue: the queue (Redis list) the message goes to.
        origin: the sender's node name, as ``anon_nodename()`` gives.
        reply_to: the sender's reply queue id (unused with results ignored).
        extra_headers: more message headers (the trace context, ``tracing.publish_span``),
            which Celery shows the task as ``task.request`` attributes.

    Returns:
        The envelope ``{"body", "content-encoding", "content-type", "headers", "properties"}``
        with the base64 JSON body ``[args, {}, embed]`` (Celery docs, "Message Protocol" v2;
        kombu.transport.virtual ``_inplace_augment_message`` for ``delivery_tag``).
    """
    headers: dict[str, Any] = {
        "lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": task_id, "parent_id": None,
        "argsrepr": repr(args), "kwargsrepr": "{}", "origin": origin, "ignore_result": None,
        "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
        **(extra_headers or {}),
    }  # fmt: skip
    properties = {
        "correlation_id": task_id, "reply_to": reply_to, "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
        "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
    }  # fmt: skip
    return {
        "body": _b64json([args, {}, _EMBED]),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": properties,
    }


def sent_event(message: dict[str, Any], *, clock: int, exchange: str) -> dict[str, Any]:
    """The ``task-sent`` event of ``message`` in kombu's envelope, as Celery publishes it.

    Returns:
        The envelope Flower's event receiver reads from the ``exchange`` fanout (Celery
        ``EventDispatcher.publish``: hostname, utcoffset, pid, clock, timestamp, task fields).
    """
    headers = message["headers"]
    queue = message["properties"]["delivery_info"]["routing_key"]
    event = {
        "hostname": headers["origin"], "utcoffset": utcoffset(), "pid": os.getpid(),
        "clock": clock, "uuid": headers["id"], "root_id": headers["root_id"],
        "parent_id": None, "name": headers["task"], "args": headers["argsrepr"],
        "kwargs": headers["kwargsrepr"], "retries": 0, "eta": None, "expires": None,
        "queue": queue, "exchange": "", "routing_key": queue, "timestamp": time.time(),
        "type": "task-sent",
    }  # fmt: skip
    return {
        "body": _b64json(event),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"hostname": headers["origin"]},
        "properties": {
            "delivery_mode": 1,
            "delivery_info": {"exchange": exchange, "routing_key": "task.sent"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


class FastPublisher:
    """Writes task messages (and their ``task-sent`` events) to a Redis broker directly."""

    def __init__(self, app: Celery, db: int) -> None:
        self.app = app
        conf = app.conf
        self.redis = aredis.Redis.from_url(
            conf.broker_url,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=25,
            max_connections=256,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self.origin = anon_nodename()
        self.reply_to = str(app.thread_oid)
        self.send_events = bool(conf.task_send_sent_event)
        #: The app's Lamport clock, which stamps every event it sends (celery-types omits it).
        self.clock: Any = app.clock  # type: ignore[attr-defined]
        self.exchange: str = conf.event_exchange
        #: kombu's fanout channel for the event (``keyprefix_fanout`` + exchange/routing key).
        self.event_channel = f"/{db}.{self.exchange}/task.sent"
        self._declared = False
        self._declare_lock = asyncio.Lock()

    async def send(
        self,
        name: str,
        args: list[Any],
        queue: str,
        task_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Publish one task (``headers``: extra message headers); returns once Redis has the
        message (and its event)."""
        await self.send_many([(name, args, queue, task_id, headers)])

    async def send_many(self, tasks: Sequence[Send]) -> None:
        """Publish ``(name, args, queue, task_id, headers)`` tasks in one pipelined round trip.

        Raises:
            redis.RedisError: the broker is unreachable (after two quick retries).
            kombu.exceptions.OperationalError: declaring the queues failed (first call only).
        """
        await self._declare_once()
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, args, queue, task_id, headers in tasks:
                message = task_message(name, args, task_id or str(uuid.uuid4()), queue,
                                       origin=self.origin, reply_to=self.reply_to,
                                       extra_headers=headers)  # fmt: skip
                pipe.lpush(queue, orjson.dumps(message))
                if self.send_events:
                    event = sent_event(message, clock=self.clock.forward(), exchange=self.exchange)
                    pipe.publish(self.event_channel, orjson.dumps(event))
            await pipe.execute()

    async def _declare_once(self) -> None:
        # Declares the queues' exchange bindings as send_task's first publish does, so the
        # broker looks the same to Celery tooling whichever path published first.
        if self._declared:
            return
        async with self._declare_lock:
            if not self._declared:
                await anyio.to_thread.run_sync(self._declare)
                self._declared = True

    def _declare(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for queue in self.app.amqp.queues.values():
                queue.bind(channel).declare()

    async def aclose(self) -> None:
        """Close the Redis connections."""
        await self.redis.aclose()
