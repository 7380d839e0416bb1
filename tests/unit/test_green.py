"""Which command lines patch for a green pool (the patching itself: test_gevent_pool.py)."""

from __future__ import annotations

import pytest

from mistral_queue.green import is_green, requested_pool


@pytest.mark.parametrize(
    ("argv", "pool"),
    [
        (["mq", "worker", "--pool", "gevent"], "gevent"),
        (["mq", "worker", "--pool=eventlet", "-c", "9"], "eventlet"),
        (["mq", "worker", "-P", "gevent"], "gevent"),
        (["mq", "worker", "--concurrency", "8"], None),
        (["mq", "worker", "--pool"], None),
        # Only the worker command: ``api --pool gevent`` is not a pool request.
        (["mq", "api", "--pool", "gevent"], None),
        (["mq"], None),
    ],
)
def test_requested_pool(argv: list[str], pool: str | None) -> None:
    assert requested_pool(argv) == pool


def test_the_test_process_is_not_green() -> None:
    assert not is_green()
