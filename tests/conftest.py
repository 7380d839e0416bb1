"""Session fixtures: a private redis-server and a whole local deployment as real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mistral_queue.dev.processes import Stack, start_redis
from mistral_queue.dev.stack import LocalStack, launch
from tests.helpers import Api

#: Two tenants, so isolation can be tested.
API_KEYS = "key-acme:acme,key-globex:globex"

#: Short schedules so retry paths finish in seconds.
TEST_ENV = {
    "MQ_API_KEYS": API_KEYS,
    "MQ_CALLBACK_RETRY_DELAYS": "0.5,0.5,1",
    "MQ_CALLBACK_TIMEOUT": "3",
    "MQ_RETRY_BASE_DELAY": "0.05",
    "MQ_RETRY_MAX_DELAY": "0.5",
    "MQ_INLINE_RETRY_MAX_WAIT": "0.5",
    "MQ_MAX_ATTEMPTS": "5",
    "MQ_SWEEP_INTERVAL": "0.5",
    "MQ_REQUEUE_AFTER_SECONDS": "5",
    "MQ_LEASE_SECONDS": "3",
    "MQ_BATCH_POLL_INITIAL_SECONDS": "0.1",
    "MQ_BATCH_POLL_MAX_SECONDS": "0.2",
}


@pytest.fixture(scope="session")
def private_redis() -> Iterator[redis.Redis]:
    """A private redis-server on a free port (never the machine's shared one)."""
    stack = Stack()
    proc = start_redis(stack)
    client = redis.Redis.from_url(proc.url, decode_responses=True)
    yield client
    client.close()
    stack.stop_all()


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """Redis, emulator, receiver, API and one worker, as subprocesses."""
    local = launch(env=TEST_ENV, workers=1, concurrency=16)
    yield local
    local.stop()


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    """The API as tenant ``acme``."""
    return Api(stack.api.url, "key-acme")


@pytest.fixture(scope="session")
def other_tenant(stack: LocalStack) -> Api:
    """The API as tenant ``globex``."""
    return Api(stack.api.url, "key-globex")


@pytest.fixture(scope="session")
def stack_redis(stack: LocalStack) -> Iterator[redis.Redis]:
    """A client of the stack's Redis, to read event logs."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    yield client
    client.close()
