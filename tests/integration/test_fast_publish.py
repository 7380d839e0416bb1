"""The API's fast publish path against real Celery: same bytes as send_task, real workers run
them, ack them, retry them, and Flower's event state sees them (task-sent included)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from celery import Celery

from mistral_queue.broker.celery_config import create_celery
from mistral_queue.broker.dispatch import Publisher
from mistral_queue.broker.fast_publish import FastPublisher, fast_path_db
from mistral_queue.config import Settings
from mistral_queue.dev.processes import Proc, Stack, start_redis
from tests.helpers import wait_for
from tests.integration.fastpub_app import DONE, QUEUE, tries_key

#: Task names of tests/integration/fastpub_app.py.
RECORD, FLAKY = "fastpub.record", "fastpub.flaky"
#: Message fields that differ between any two publishes (fresh ids, the sender's node).
PER_MESSAGE = {"delivery_tag", "reply_to", "origin"}


@dataclass
class Events:
    """Celery events captured as Flower captures them (an EventReceiver on the broker)."""

    app: Celery
    seen: list[dict[str, Any]] = field(default_factory=list)
    receiver: Any = None

    def of(self, task_id: str) -> list[str]:
        return [e["type"] for e in list(self.seen) if e.get("uuid") == task_id]


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    stack = Stack()
    url = start_redis(stack).url
    yield url
    stack.stop_all()


@pytest.fixture(scope="module")
def settings(broker: str) -> Settings:
    return Settings(_env_file=None, redis_url=broker)


@pytest.fixture(scope="module")
def events(settings: Settings) -> Iterator[Events]:
    captured = Events(create_celery(settings, include_tasks=False))
    ready = threading.Event()

    def capture() -> None:
        with captured.app.connection_for_read() as conn:
            receiver = captured.app.events.Receiver(conn, handlers={"*": captured.seen.append})
            captured.receiver = receiver
            ready.set()
            receiver.capture(limit=None, timeout=None, wakeup=False)

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield captured
    captured.receiver.should_stop = True
    thread.join(5)


@pytest.fixture(scope="module")
def worker(broker: str, events: Events) -> Iterator[Proc]:
    stack = Stack()
    name = f"fastpub-{uuid.uuid4().hex[:6]}@test"
    argv = [sys.executable, "-m", "celery", "-A", "tests.integration.fastpub_app", "worker",
            "-P", "threads", "-c", "4", "-Q", QUEUE, "-n", name, "--without-mingle",
            "--without-gossip", "-l", "INFO"]  # fmt: skip
    proc = stack.start("worker", argv, {"MQ_REDIS_URL": broker})
    wait_for(lambda: any(e["type"] == "worker-online" and e["hostname"] == name
                         for e in list(events.seen)), 30, "the worker to come online")  # fmt: skip
    yield proc
    stack.stop_all()


def _body(message: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(message["body"]))


def _shape(message: dict[str, Any]) -> dict[str, Any]:
    """The message with per-publish values blanked."""
    blank = dict(message)
    blank["body"] = _body(message)
    blank["headers"] = {k: v for k, v in message["headers"].items() if k not in PER_MESSAGE}
    blank["properties"] = {k: v for k, v in message["properties"].items() if k not in PER_MESSAGE}
    return blank


def test_fast_message_is_what_send_task_writes(settings: Settings, broker: str) -> None:
    client = redis.Redis.from_url(broker)
    publisher = Publisher(settings)
    assert publisher.fast is not None
    queue = f"shape-{uuid.uuid4().hex[:6]}"
    fast = publisher.fast
    publisher.app.send_task(RECORD, args=["same"], task_id="task-a", queue=queue)

    async def send() -> None:
        await fast.send(RECORD, ["same"], queue, "task-a")
        await publisher.aclose()

    asyncio.run(send())
    ours, celerys = (json.loads(raw) for raw in client.lrange(queue, 0, -1))
    assert _shape(ours) == _shape(celerys)
    assert ours["properties"]["delivery_tag"] != celerys["properties"]["delivery_tag"]
    assert client.smembers(f"_kombu.binding.{queue}")


def publish(settings: Settings, *sends: tuple[str, str, str]) -> FastPublisher:
    """Publish (task name, task id, token) triples through the fast path."""
    fast = Publisher(settings).fast
    assert fast is not None

    async def run() -> None:
        for name, task_id, token in sends:
            await fast.send(name, [token], QUEUE, task_id)
        await fast.aclose()

    asyncio.run(run())
    return fast


def test_worker_runs_acks_and_retries_fast_messages(
    settings: Settings, broker: str, worker: Proc, events: Events
) -> None:
    client = redis.Redis.from_url(broker, decode_responses=True)
    ids = [f"rec-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    flaky_id = f"flaky-{uuid.uuid4().hex[:8]}"
    sends = [(RECORD, task_id, f"tok{i}") for i, task_id in enumerate(ids)]
    fast = publish(settings, *sends, (FLAKY, flaky_id, "again"))
    expected = {f"{task_id} tok{i}" for i, task_id in enumerate(ids)} | {f"{flaky_id} again"}
    wait_for(lambda: client.llen(DONE) >= len(expected), 30, "every task to run")
    assert sorted(client.lrange(DONE, 0, -1)) == sorted(expected)
    assert client.get(tries_key(flaky_id)) == "2"
    wait_for(lambda: client.llen(QUEUE) == 0 and client.hlen("unacked") == 0, 30, "the acks")

    wait_for(lambda: "task-succeeded" in events.of(flaky_id), 30, "the flaky task's events")
    assert {"task-sent", "task-received", "task-retried", "task-succeeded"} <= set(
        events.of(flaky_id)
    )
    sent = next(e for e in events.seen if e["type"] == "task-sent" and e["uuid"] == ids[0])
    assert sent["name"] == RECORD
    assert sent["queue"] == QUEUE
    assert sent["args"] == "['tok0']"
    assert sent["hostname"] == fast.origin


def test_flower_state_shows_fast_published_tasks(
    settings: Settings, broker: str, worker: Proc, events: Events
) -> None:
    task_id = f"state-{uuid.uuid4().hex[:8]}"
    publish(settings, (RECORD, task_id, "seen"))
    wait_for(lambda: "task-succeeded" in events.of(task_id), 30, "the task's events")
    state = events.app.events.State()
    for event in list(events.seen):
        state.event(event)
    task = state.tasks[task_id]
    assert task.name == RECORD
    assert task.state == "SUCCESS"
    assert task.sent is not None and task.received is not None and task.succeeded is not None
    assert task.routing_key == QUEUE


def test_send_task_path_still_works(settings: Settings, broker: str, worker: Proc) -> None:
    client = redis.Redis.from_url(broker, decode_responses=True)
    publisher = Publisher(settings)
    publisher.fast = None
    task_id = f"slow-{uuid.uuid4().hex[:8]}"
    asyncio.run(publisher._send(RECORD, ["plain"], QUEUE, task_id))
    wait_for(lambda: f"{task_id} plain" in client.lrange(DONE, 0, -1), 30, "the task to run")
    asyncio.run(publisher.aclose())


@pytest.mark.parametrize(
    ("overrides", "db"),
    [
        ({"redis_url": "redis://127.0.0.1:1/3"}, 3),
        ({"redis_url": "rediss://127.0.0.1:1"}, 0),
        ({"broker_url": "amqp://guest:guest@127.0.0.1:1//"}, None),
        ({"broker_url": "sentinel://127.0.0.1:1"}, None),
    ],
)
def test_fast_path_only_for_plain_redis(overrides: dict[str, Any], db: int | None) -> None:
    app = create_celery(Settings(_env_file=None, **overrides), include_tasks=False)
    assert fast_path_db(app) == db
    publisher = Publisher(Settings(_env_file=None, **overrides))
    assert (publisher.fast is None) == (db is None)


def test_key_renaming_options_use_send_task(settings: Settings) -> None:
    app = create_celery(settings, include_tasks=False)
    app.conf.broker_transport_options = {"global_keyprefix": "mq-"}
    assert fast_path_db(app) is None
    app.conf.broker_transport_options = {}
    app.conf.task_default_priority = 5
    assert fast_path_db(app) is None
