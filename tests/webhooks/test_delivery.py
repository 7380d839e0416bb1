"""Delivery against a real receiver on 127.0.0.1: outcomes, signatures, timeouts, refusals."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from mistral_queue.dev.receiver import RunningReceiver
from mistral_queue.webhooks.delivery import DeliveryResult, deliver, parse_retry_after
from mistral_queue.webhooks.pinned_transport import thread_client
from mistral_queue.webhooks.signing import event_id
from tests.webhooks.conftest import events, new_secret, plan

LOCAL = ("127.0.0.1", "localhost")
BODY = json.dumps(
    {
        "type": "job.succeeded",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"id": "job_abc", "status": "succeeded", "result": {"choices": []}},
    }
).encode()
MSG_ID = event_id("job_abc", "job.succeeded")


def send(
    receiver: RunningReceiver,
    client: httpx.Client,
    secrets: list[str],
    *,
    timeout: float = 10.0,
    allow: tuple[str, ...] = LOCAL,
) -> DeliveryResult:
    return deliver(
        f"{receiver.url}/hooks/mq",
        MSG_ID,
        BODY,
        secrets=secrets,
        timeout=timeout,
        allow_hosts=allow,
        client=client,
    )


def test_2xx_is_ok_and_verifies_independently(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    result = send(receiver, client, [secret])
    assert result == DeliveryResult(True, 200, None, False, None, result.duration)
    assert result.duration >= 0
    got = events(receiver)
    assert got["rejected"] == 0
    [event] = got["events"]
    assert event["webhook_id"] == MSG_ID
    assert event["path"] == "/hooks/mq"
    assert event["body"] == json.loads(BODY)
    headers: dict[str, str] = event["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("mistral-queue-webhooks/")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_ok(
    receiver: RunningReceiver, client: httpx.Client, secret: str, status: int
) -> None:
    plan(receiver, status_after=status)
    result = send(receiver, client, [secret])
    assert (result.ok, result.status_code, result.error) == (True, status, None)


def test_500_fails_and_is_recorded_as_an_attempt(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    plan(receiver, fail_next=[500])
    result = send(receiver, client, [secret])
    assert (result.ok, result.status_code, result.gone, result.error) == (
        False,
        500,
        False,
        "HTTP 500",
    )
    got = events(receiver)
    assert got["events"] == []
    assert [f["status"] for f in got["failed"]] == [500]


def test_plan_then_recovery_keeps_the_webhook_id(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    plan(receiver, fail_next=[500, 503], status_after=200)
    statuses = [send(receiver, client, [secret]).status_code for _ in range(3)]
    assert statuses == [500, 503, 200]
    got = events(receiver)
    attempts = [*got["failed"], *got["events"]]
    assert {a["webhook_id"] for a in attempts} == {MSG_ID}
    for attempt in attempts:  # each attempt was signed on its own and still verifies
        Webhook(secret).verify(BODY, attempt["headers"])


def test_410_means_gone(receiver: RunningReceiver, client: httpx.Client, secret: str) -> None:
    plan(receiver, fail_next=[410])
    result = send(receiver, client, [secret])
    assert (result.ok, result.status_code, result.gone) == (False, 410, True)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_a_failure_and_not_followed(
    receiver: RunningReceiver, client: httpx.Client, secret: str, status: int
) -> None:
    plan(receiver, fail_next=[status])
    result = send(receiver, client, [secret])
    assert (result.ok, result.status_code, result.gone) == (False, status, False)
    assert result.error is not None and "not followed" in result.error
    got = events(receiver)
    assert len(got["failed"]) == 1 and got["events"] == []


def test_retry_after_is_read(receiver: RunningReceiver, client: httpx.Client, secret: str) -> None:
    plan(receiver, fail_next=[429, 503], retry_after=7)
    assert send(receiver, client, [secret]).retry_after == 7.0
    result = send(receiver, client, [secret])
    assert (result.status_code, result.retry_after) == (503, 7.0)
    assert send(receiver, client, [secret]).retry_after is None


def test_timeout_gives_a_result(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    plan(receiver, delay=5)
    result = send(receiver, client, [secret], timeout=0.3)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and "timed out after 0.3 s" in result.error
    plan(receiver)  # later tests must not wait


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening on 127.0.0.1, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_connection_refused_gives_a_result(
    client: httpx.Client, secret: str, closed_port: int
) -> None:
    result = deliver(
        f"http://127.0.0.1:{closed_port}/",
        MSG_ID,
        BODY,
        secrets=[secret],
        timeout=5,
        allow_hosts=LOCAL,
        client=client,
    )
    assert (result.ok, result.status_code, result.gone) == (False, None, False)
    assert result.error is not None and result.error.startswith("ConnectError")


def test_unsafe_url_is_refused_at_delivery(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    result = send(receiver, client, [secret], allow=())
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "callback URL refused: 127.0.0.1 is a loopback address"
    assert events(receiver)["events"] == []


def test_wrong_secret_is_rejected_by_the_receiver(
    receiver: RunningReceiver, client: httpx.Client
) -> None:
    result = send(receiver, client, [new_secret()])
    assert (result.ok, result.status_code) == (False, 401)
    got = events(receiver)
    assert got["rejected"] == 1 and got["events"] == []


def test_rotation_receiver_knows_only_the_old_secret(
    receiver: RunningReceiver, client: httpx.Client, secret: str
) -> None:
    result = send(receiver, client, [new_secret(), secret])
    assert result.ok
    [event] = events(receiver)["events"]
    assert len(event["headers"]["webhook-signature"].split(" ")) == 2


def test_secrets_never_appear_in_errors(
    client: httpx.Client, secret: str, closed_port: int
) -> None:
    result = deliver(
        f"http://127.0.0.1:{closed_port}/?token=abc",
        MSG_ID,
        BODY,
        secrets=[secret],
        timeout=5,
        allow_hosts=LOCAL,
        client=client,
    )
    assert result.error is not None
    assert secret.removeprefix("whsec_") not in result.error and "abc" not in result.error


def test_default_client_is_per_thread() -> None:
    seen: list[httpx.Client] = []
    worker = threading.Thread(target=lambda: seen.append(thread_client()))
    worker.start()
    worker.join(10)
    assert thread_client() is thread_client()
    assert seen and seen[0] is not thread_client()


def test_deliver_uses_the_thread_client_by_default(receiver: RunningReceiver, secret: str) -> None:
    result = deliver(
        f"{receiver.url}/x", MSG_ID, BODY, secrets=[secret], timeout=10, allow_hosts=LOCAL
    )
    assert result.ok


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("10000000000000", 1e13),
        ("-1", math.inf),
        ("nan", math.inf),
        ("inf", math.inf),
        ("soon", math.inf),
        ("Fri, 31 Dec 99999 23:59:59 GMT", math.inf),
        ("Sunday, 01-Jan-26 12:00:30 GMT", 30.0),
        ("Thu Jan  1 12:01:00 2026", 60.0),
        ("", None),
        (None, None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: Any) -> None:
    assert parse_retry_after(value, now=NOW) == expected
