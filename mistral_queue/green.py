"""Green (gevent, eventlet) worker pools: patching the standard library early, and telling later.

Celery's ``gevent`` pool runs each task in a greenlet, which only yields to the others when
it waits on a *patched* socket, lock or sleep. Celery's own ``celery`` command patches in
``celery/__main__.py`` before anything else is imported (``maybe_patch_concurrency``); our
``mistral-queue worker`` starts Celery through ``worker_main`` instead, so without this module
the process never patched, the consumer's BRPOP blocked the hub, and a gevent worker took
messages and ran none of them. ``mistral_queue.cli`` imports this module first.

Once patched, ``threading`` (the sweeper, the watchdog, the lease renewer, the grace timer),
``time.sleep`` and sockets (httpx, redis-py, kombu) are all cooperative, so nothing else
needs a green variant. What does differ is anything kept per thread: a green pool starts one
greenlet per task, so per-thread clients would be per task (a new connection pool, TLS
context and TCP connection for every job). ``is_green`` lets those share one per process.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: The pools that need the standard library patched.
GREEN_POOLS = ("gevent", "eventlet")


def requested_pool(argv: Sequence[str]) -> str | None:
    """The ``--pool``/``-P`` value of a ``worker`` command line, else None.

    Args:
        argv: e.g. ``["mistral-queue", "worker", "--pool", "gevent"]`` or ``--pool=gevent``.
    """
    if "worker" not in argv[1:2]:
        return None
    for index, arg in enumerate(argv):
        name, sep, value = arg.partition("=")
        if name in ("--pool", "-P"):
            if sep:
                return value
            return argv[index + 1] if index + 1 < len(argv) else None
    return None


def patch_for(argv: Sequence[str]) -> bool:
    """Monkey-patch the standard library when ``argv`` asks for a green worker pool.

    Uses Celery's ``maybe_patch_concurrency`` (what ``celery -P gevent`` does), which also
    loads the pool's module while nothing else is imported yet.

    Returns:
        Whether it patched.
    """
    if requested_pool(argv) not in GREEN_POOLS:
        return False
    import celery

    celery.maybe_patch_concurrency(list(argv))
    return True


def is_green() -> bool:
    """Whether sockets are patched by gevent or eventlet in this process."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("socket"):
        return True
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    return bool(eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("socket"))


patch_for(sys.argv)
