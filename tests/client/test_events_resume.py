"""``jobs.events`` over a connection that really drops: a TCP proxy cuts the first stream."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from mistral_queue_client import Client

from mistral_queue.dev.stack import LocalStack

pytestmark = pytest.mark.timeout(120)


@dataclass
class CuttingProxy:
    """Forwards TCP to the API; the first connection is closed after its first SSE event."""

    url: str = ""
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0


def _first_event_end(data: bytes) -> int | None:
    """Where the first SSE frame of a response ends (after its blank line), if it has."""
    start = data.find(b"data:")
    if start < 0:
        return None
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep, start)) >= 0]
    return min(ends) if ends else None


def _pipe(source: socket.socket, sink: socket.socket, cut_after_event: bool) -> None:
    """Copy ``source`` to ``sink``; with ``cut_after_event``, close both after one event."""
    sent = b""
    try:
        while chunk := source.recv(65536):
            if cut_after_event and (end := _first_event_end(sent + chunk)) is not None:
                sink.sendall((sent + chunk)[len(sent) : end])
                break
            sink.sendall(chunk)
            sent += chunk
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def cutting_proxy(target: str) -> Iterator[CuttingProxy]:
    parts = urlsplit(target)
    state = CuttingProxy()
    listener = socket.create_server(("127.0.0.1", 0))
    state.url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((parts.hostname, parts.port))
            state.connections += 1
            first = state.connections == 1
            request = client.recv(65536)
            state.requests.append(request)
            upstream.sendall(request)
            threading.Thread(target=_pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client, first), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield state
    finally:
        listener.close()


def test_a_dropped_event_stream_resumes_without_loss_or_repeat(stack: LocalStack) -> None:
    with Client(stack.api.url, "key-acme") as direct:
        request = {"model": "mistral-small-latest", "stream": True,
                   "messages": [{"role": "user", "content": "a story in many parts"}]}  # fmt: skip
        job = direct.jobs.create("chat", request)
        direct.jobs.wait(job.id, timeout=60)
        expected = [e.id for e in direct.jobs.events(job.id)]

    with cutting_proxy(stack.api.url) as proxy, Client(proxy.url, "key-acme") as client:
        got = [e.id for e in client.jobs.events(job.id)]

    assert got == expected and len(expected) > 2
    assert proxy.connections == 2
    assert b"last-event-id: " + expected[0].encode() in proxy.requests[1].lower()
