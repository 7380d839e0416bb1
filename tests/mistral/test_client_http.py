"""MistralClient against a real local HTTP server (see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mistral_queue import __version__
from mistral_queue.config import Settings
from mistral_queue.mistral.client import (
    MistralClient,
    SSEEvent,
    close_clients,
    get_client,
)
from mistral_queue.mistral.errors import (
    InvalidResponse,
    NoAllowance,
    RateLimited,
    RequestRejected,
    ServerError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from tests.mistral.conftest import FILE_BYTES, Upstream


def settings_for(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "MISTRAL_BASE_URL": url,
        "MISTRAL_API_KEY": "sk-test-key",
        "mistral_connect_timeout": 2.0,
        "mistral_read_timeout": 0.3,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(upstream: Upstream) -> Iterator[MistralClient]:
    with MistralClient(settings_for(upstream.url)) as made:
        yield made


def test_post_sends_headers_and_json(client: MistralClient) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo"}]}
    answer = client.chat_complete(body, request_id="job_1:2")
    assert answer.status_code == 200
    assert answer.json["body"] == body
    headers = answer.json["headers"]
    assert headers["authorization"] == "Bearer sk-test-key"
    assert headers["user-agent"] == f"mistral-queue/{__version__}"
    assert headers["x-request-id"] == "job_1:2"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert answer.headers == {"x-ratelimit-remaining-req-minute": "59"}
    assert 0 < answer.elapsed < 5


def test_no_key_no_authorization(upstream: Upstream) -> None:
    with MistralClient(settings_for(upstream.url, MISTRAL_API_KEY=None)) as client:
        headers = client.post("/v1/things", {}).json["headers"]
    assert "authorization" not in headers
    assert "x-request-id" not in headers


def test_get_params_repeat_and_delete_204(client: MistralClient) -> None:
    answer = client.get("/v1/things", {"status": ["QUEUED", "RUNNING"], "page": 2})
    assert answer.json["method"] == "GET"
    assert answer.json["params"] == [["status", "QUEUED"], ["status", "RUNNING"], ["page", "2"]]
    deleted = client.delete("/v1/things/1")
    assert (deleted.status_code, deleted.json) == (204, {})


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("/status/400", RequestRejected),
        ("/status/401", RequestRejected),
        ("/status/404", RequestRejected),
        ("/status/422", RequestRejected),
        ("/status/408", ServerError),
        ("/status/429", RateLimited),
        ("/status/429?limit=0", NoAllowance),
        ("/status/500", ServerError),
        ("/status/503", ServerError),
    ],
)
def test_error_statuses(client: MistralClient, path: str, cls: type[UpstreamError]) -> None:
    with pytest.raises(UpstreamError) as caught:
        client.post(path, {})
    error = caught.value
    assert type(error) is cls
    assert error.message == f"status {error.status_code}"
    assert error.retry_after == 2.0


def test_redirect_is_not_followed(client: MistralClient) -> None:
    with pytest.raises(RequestRejected) as caught:
        client.get("/redirect")
    assert caught.value.status_code == 307


def test_non_json_success_is_invalid(client: MistralClient) -> None:
    with pytest.raises(InvalidResponse):
        client.post("/not-json", {})


def test_read_timeout(client: MistralClient) -> None:
    with pytest.raises(UpstreamTimeout) as caught:
        client.post("/slow", {})
    assert caught.value.retryable


def test_connection_refused(closed_port_url: str) -> None:
    with (
        MistralClient(settings_for(closed_port_url)) as client,
        pytest.raises(UpstreamConnectionError) as caught,
    ):
        client.post("/v1/chat/completions", {})
    assert caught.value.retryable


def test_server_hangs_up_without_answer(hangup_url: str) -> None:
    with (
        MistralClient(settings_for(hangup_url)) as client,
        pytest.raises(UpstreamConnectionError) as caught,
    ):
        client.post("/v1/chat/completions", {})
    assert "RemoteProtocolError" in caught.value.message


def test_connection_drops_mid_body(client: MistralClient) -> None:
    with pytest.raises(UpstreamConnectionError):
        client.post("/cut", {})
    # The client stays usable after a broken connection.
    assert client.post("/v1/things", {}).status_code == 200


def test_chat_stream_stops_at_done_and_skips_comments(client: MistralClient) -> None:
    events = list(client.stream("/stream/chat", {"stream": True}, request_id="job_2:1"))
    assert [event.event for event in events] == [None, None, None]
    assert "".join(e.data["choices"][0]["delta"]["content"] for e in events) == "Hello"
    assert events[-1].data["usage"]["total_tokens"] == 5


def test_conversation_stream_has_named_events(client: MistralClient) -> None:
    events = list(client.stream("/stream/conversation", {"stream": True}))
    assert events == [
        SSEEvent(
            "conversation.response.started",
            {"type": "conversation.response.started", "conversation_id": "conv_1"},
        ),
        SSEEvent(
            "message.output.delta",
            {"type": "message.output.delta", "id": "msg_1", "content": "Hi"},
        ),
        SSEEvent(
            "conversation.response.done",
            {"type": "conversation.response.done", "usage": {"total_tokens": 4}},
        ),
    ]


def test_stream_drop_mid_way_after_some_events(client: MistralClient) -> None:
    received: list[SSEEvent] = []
    with pytest.raises(UpstreamConnectionError):
        for event in client.stream("/stream/cut", {}):
            received.append(event)
    assert len(received) == 2


def test_data_only_stream_without_done_is_cut(client: MistralClient) -> None:
    with pytest.raises(UpstreamConnectionError, match=r"\[DONE\]"):
        list(client.stream("/stream/no-done", {}))


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("429", RateLimited), ("json", InvalidResponse), ("bad-data", InvalidResponse)],
)
def test_stream_errors(client: MistralClient, kind: str, cls: type[UpstreamError]) -> None:
    path = "/status/429" if kind == "429" else f"/stream/{kind}"
    with pytest.raises(cls):
        list(client.stream(path, {}))


def test_stream_abandoned_early_releases_the_connection(client: MistralClient) -> None:
    for _ in range(20):
        events = client.stream("/stream/chat", {})
        next(events)
        events.close()
    assert client.post("/v1/things", {}).status_code == 200


@pytest.mark.parametrize("form", ["bytes", "file", "iterator"])
def test_upload_file(client: MistralClient, form: str) -> None:
    data = b'{"custom_id":"0","body":{}}\n' * 5000
    content: Any = {
        "bytes": data,
        "file": io.BytesIO(data),
        "iterator": iter([data[:1000], b"", data[1000:70_000], data[70_000:]]),
    }[form]
    answer = client.upload_file("/v1/files", "batch.jsonl", content, "batch")
    assert answer.json == {
        "filename": "batch.jsonl",
        "content_type": "application/octet-stream",
        "purpose": "batch",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_download_streams_bytes(client: MistralClient) -> None:
    chunks = list(client.download("/v1/files/abc/content"))
    assert b"".join(chunks) == FILE_BYTES
    assert len(chunks) > 1


def test_download_errors(client: MistralClient) -> None:
    with pytest.raises(UpstreamConnectionError):
        list(client.download("/v1/files/cut/content"))
    with pytest.raises(RequestRejected):
        list(client.download("/status/404"))


def test_get_client_is_per_thread_and_reset_by_close(upstream: Upstream) -> None:
    settings = settings_for(upstream.url)
    mine = get_client(settings)
    assert get_client(settings) is mine
    theirs: list[MistralClient] = []
    thread = threading.Thread(target=lambda: theirs.append(get_client(settings)))
    thread.start()
    thread.join(10)
    assert theirs and theirs[0] is not mine
    assert mine.post("/v1/things", {}).status_code == 200
    close_clients()
    assert mine.closed and theirs[0].closed
    fresh = get_client(settings)
    assert fresh is not mine and not fresh.closed
    other = get_client(settings_for(upstream.url))
    assert other is not fresh and fresh.closed
    close_clients()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_client(upstream: Upstream) -> None:
    settings = settings_for(upstream.url)
    parent = get_client(settings)
    parent.post("/v1/things", {})
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a new, working client
        try:
            child = get_client(settings)
            ok = child is not parent and child.post("/v1/things", {}).status_code == 200
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"1"
    os.waitpid(pid, 0)
    assert parent.post("/v1/things", {}).status_code == 200
    close_clients()
