"""A total deadline per attempt: receivers that trickle their answer are cut off on time.

The receivers here are real TCP servers on 127.0.0.1 that send one byte every 0.5 s, so a
per-read timeout (what httpx offers) would never fire; the attempt must end at its deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mistral_queue.config import Settings
from mistral_queue.jobs.agent import ToolCall
from mistral_queue.tasks.agent.errors import ToolAttemptError
from mistral_queue.tasks.agent.tool_calls import post_once, tool_request
from mistral_queue.webhooks.deadline import bounded, deadline
from mistral_queue.webhooks.delivery import deliver
from mistral_queue.webhooks.pinned_transport import make_client
from tests.webhooks.conftest import new_secret

LOCAL = ("127.0.0.1",)
#: Seconds between the trickling receiver's bytes.
DRIP = 0.5
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n"


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


@contextmanager
def trickler(*, head_first: bool) -> Iterator[tuple[str, list[float]]]:
    """A receiver that answers one byte per ``DRIP`` s, forever (until the client hangs up).

    ``head_first``: send the status line and headers at once and trickle the body; otherwise
    trickle the status line itself. Yields the URL and, per connection, when it was closed
    by the client (monotonic seconds).
    """
    server = socket.create_server(("127.0.0.1", 0))
    closed: list[float] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            _read_request(conn)
            data = b"x" * 100_000
            if head_first:
                conn.sendall(HEAD)
            else:
                data = HEAD + data
            for byte in data:
                if stop.wait(DRIP):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    closed.append(time.monotonic())
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", closed
    finally:
        stop.set()
        server.close()


@pytest.mark.parametrize("head_first", [True, False], ids=["body", "status-line"])
def test_a_trickling_receiver_is_cut_off_at_the_deadline(head_first: bool) -> None:
    with trickler(head_first=head_first) as (url, _), make_client() as client:
        started = time.monotonic()
        result = deliver(
            url,
            "msg_trickle",
            b"{}",
            secrets=[new_secret()],
            timeout=1.5,
            allow_hosts=LOCAL,
            client=client,
        )
        elapsed = time.monotonic() - started
    assert not result.ok
    assert result.error is not None and "timed out" in result.error
    # Per-read timeouts would never fire (a byte comes every 0.5 s); the total one does.
    assert 1.4 <= elapsed < 1.5 + DRIP + 0.5, elapsed


def test_a_trickling_tool_server_is_cut_off_at_the_deadline() -> None:
    settings = Settings(
        _env_file=None,
        webhook_secret=new_secret(),
        callback_allow_hosts=LOCAL,
        tool_call_timeout=1.5,
    )
    call = ToolCall(tool_call_id="call_1", name="lookup", arguments="{}")
    with trickler(head_first=True) as (url, _), make_client() as client:
        request = tool_request("job_trickle", call, url, None, tenant="acme", keys=(b"k" * 32,))
        started = time.monotonic()
        with pytest.raises(ToolAttemptError, match="timed out") as caught:
            post_once(request, settings, client)
        elapsed = time.monotonic() - started
    assert caught.value.retryable
    assert 1.4 <= elapsed < 1.5 + DRIP + 0.5, elapsed


def test_no_deadline_leaves_timeouts_as_they_are() -> None:
    assert bounded(7.0, TimeoutError) == 7.0
    assert bounded(None, TimeoutError) is None
    with deadline(5.0):
        left = bounded(None, TimeoutError)
        assert left is not None and 4.0 < left <= 5.0
        assert bounded(1.0, TimeoutError) == 1.0
    with deadline(-1.0), pytest.raises(TimeoutError):
        bounded(1.0, TimeoutError)
