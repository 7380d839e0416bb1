"""Hostile receivers against the real stack: a Retry-After storm cannot crash or stall delivery.

The test stack's schedule is 0.5, 0.5, 1 s (tests/conftest.py), so its longest delay is 1 s.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import redis

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, api_error, chat_body, events, raw_receiver, wait_for

RETRY_AFTERS = [
    "10000000000000",  # crashed the scheduling before issue 14 (year out of range)
    "soon",
    "-5",
    "Fri, 31 Dec 9999 23:59:59 GMT",
]


@pytest.mark.parametrize("retry_after", RETRY_AFTERS)
def test_a_retry_after_storm_is_clamped_and_every_attempt_counted(
    stack: LocalStack, api: Api, stack_redis: redis.Redis, retry_after: str
) -> None:
    with raw_receiver() as receiver:
        # Given a receiver that always answers 503 with an absurd or invalid Retry-After
        receiver.statuses[:] = [503] * 100
        receiver.failure_headers["Retry-After"] = retry_after
        jobs = [api.submit(chat_body(f"storm {i}", receiver.url)) for i in range(3)]

        finals = [api.wait_final(job["id"], timeout=40) for job in jobs]

        # Then each callback went through the whole schedule: four attempts, then failed
        for job, final in zip(jobs, finals, strict=True):
            assert final["callback"]["status"] == "failed", final["callback"]
            assert final["callback"]["attempts"] == 4
            assert final["callback"]["last_status_code"] == 503
            assert len(receiver.for_job(job["id"])) == 4
            logged = events(stack_redis, job["id"])
            retrying = [e for e in logged if e["type"] == "callback.retrying"]
            # And each wait was clamped to the schedule's longest delay (1 s)
            assert [e["data"]["delay"] for e in retrying] == [1.0, 1.0, 1.0]


def test_attempts_are_spaced_by_the_clamped_delay(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        # Given a receiver that answers 429 "come back in 300,000 years" twice, then 200
        receiver.statuses[:] = [429, 429]
        receiver.failure_headers["Retry-After"] = "10000000000000"
        job = api.submit(chat_body("clamped then delivered", receiver.url))

        final = api.wait_final(job["id"], timeout=40)
        attempts = receiver.for_job(job["id"])
    # Then the callback is delivered at the third attempt, seconds later
    assert final["callback"]["status"] == "delivered"
    assert final["callback"]["attempts"] == 3
    stamps = [int(a.headers["webhook-timestamp"]) for a in attempts]
    assert len(stamps) == 3
    assert stamps[-1] - stamps[0] <= 10


@dataclass
class Hanging:
    """A receiver that reads each request and never answers; counts connections."""

    url: str = ""
    open: int = 0
    most_open: int = 0
    total: int = 0


@contextmanager
def hanging_receiver() -> Iterator[Hanging]:
    state = Hanging()
    guard = threading.Lock()
    stop = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with guard:
            state.open += 1
            state.total += 1
            state.most_open = max(state.most_open, state.open)
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    if not conn.recv(65536):
                        break  # the client gave up
                except TimeoutError:
                    continue
                except OSError:
                    break
        with guard:
            state.open -= 1

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    try:
        yield state
    finally:
        stop.set()
        server.close()


def test_a_hanging_receiver_holds_only_its_share(stack: LocalStack, api: Api) -> None:
    with hanging_receiver() as hanging, raw_receiver() as healthy:
        # Given more callbacks to a hanging receiver than the worker has threads (16)
        stuck = [api.submit(chat_body(f"hang {i}", hanging.url)) for i in range(20)]
        wait_for(lambda: hanging.total >= 2, 20, "the hanging receiver to be called")
        # When other jobs come in meanwhile
        started = time.monotonic()
        others = [api.submit(chat_body(f"healthy {i}", healthy.url)) for i in range(10)]
        finals = [api.wait_final(job["id"], timeout=30) for job in others]
        took = time.monotonic() - started
        # Then they run and their callbacks arrive while the hanging ones still wait
        assert {f["callback"]["status"] for f in finals} == {"delivered"}
        assert {f["status"] for f in finals} == {"succeeded"}
        assert took < 15, took
        # And the hanging receiver never held more than its share of delivery slots
        assert hanging.most_open <= 2, hanging.most_open
        pending = [api.job(job["id"])["callback"]["status"] for job in stuck]
        assert "pending" in pending


def test_redelivery_is_rate_limited_per_job(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        job, other = (api.submit(chat_body(f"redeliver {i}", receiver.url)) for i in range(2))
        api.wait_final(job["id"])
        api.wait_final(other["id"])
        url = f"{api.url}/v1/jobs/{job['id']}/callback/redeliver"
        assert httpx.post(url, headers=api.headers()).status_code == 202
        # A second redelivery within the interval (10 s by default) is refused
        again = httpx.post(url, headers=api.headers())
        error = api_error(again, 429)
        assert error["type"] == "rate_limited"
        assert 1 <= int(again.headers["retry-after"]) <= 10
        assert error["details"] == {"retry_after": int(again.headers["retry-after"])}
        # Another job's redelivery is not limited by it
        other_url = f"{api.url}/v1/jobs/{other['id']}/callback/redeliver"
        assert httpx.post(other_url, headers=api.headers()).status_code == 202
        wait_for(lambda: len(receiver.for_job(job["id"])) == 2, 10, "the one redelivery")
        time.sleep(0.5)
        assert len(receiver.for_job(job["id"])) == 2
