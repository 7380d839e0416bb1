"""The Redis broker transport of workers: kombu's, with a fix that keeps a worker alive.

Celery 5.7 handles a lost broker connection by first collecting the connection (which drops
its client) and then closing it; closing a channel that still holds un-acked messages tries
to restore them through that client, fails with ``AttributeError`` (not a connection error,
so Celery does not ignore it) and stops the worker with "Unrecoverable error" instead of
reconnecting. Here a collected connection raises a Redis ``ConnectionError``, which Celery
ignores as it should, and the worker reconnects. The un-acked messages stay in Redis: the
broker redelivers them after its visibility timeout, and the recovery sweep republishes their
jobs long before that (a job already finished drops the late copy).

Workers use it through ``broker_transport`` (``worker/celery_app.py``) for ``redis://`` and
``rediss://`` brokers.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

#: The ``broker_transport`` value naming :class:`Transport`.
TRANSPORT = "mistral_queue.broker.kombu_redis:Transport"


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, failing like a lost connection once its connection is collected."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed after a failure")
        # Not in kombu's type stubs: the method is private.
        parent: Any = super()
        return parent._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The ``broker_transport`` for a broker URL: ours for Redis, None (kombu's choice) else."""
    return TRANSPORT if broker_url.startswith(("redis://", "rediss://")) else None
