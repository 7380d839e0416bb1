"""The client's retry policy, error mapping and stream resumption, over ``httpx.MockTransport``.

These are pure client logic (what it sends for scripted answers); the real API is in
``test_client_stack.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest
from mistral_queue_client import (
    APIConnectionError,
    APIError,
    AsyncClient,
    AuthenticationError,
    BudgetExceededError,
    Client,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ValidationError,
    _core,
)

Handler = Callable[[httpx.Request], httpx.Response]
JOB = {
    "id": "job_1",
    "type": "chat",
    "status": "queued",
    "created_at": "2026-12-02T00:00:00.000Z",
    "request": {},
    "callback": {},
}
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "BACKOFF_BASE", 0.001)


def _error(status: int, kind: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"type": kind, "message": f"{kind}!", "details": [{"field": "x"}]}}
    return httpx.Response(status, json=body, headers=headers)


def _client(handler: Handler, max_retries: int = 3) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client("http://api.test", "k", max_retries=max_retries, http_client=http)


def _scripted(script: Sequence[httpx.Response | Exception]) -> tuple[Handler, list[httpx.Request]]:
    answers = list(script)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def test_create_retries_503_and_429_with_one_idempotency_key_and_retry_after() -> None:
    handler, seen = _scripted(
        [
            _error(503, "unavailable", {"Retry-After": "0.3"}),
            _error(429, "rate_limited", {"Retry-After": "0"}),
            httpx.Response(202, json=JOB),
        ]
    )
    started = time.monotonic()
    job = _client(handler).jobs.create("chat", REQUEST, metadata={"a": 1})

    assert job.id == "job_1" and len(seen) == 3
    assert time.monotonic() - started >= 0.3
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1 and keys.pop().startswith("mqc_")
    assert json.loads(seen[0].content) == {"type": "chat", "request": REQUEST, "metadata": {"a": 1}}
    assert seen[0].headers["Authorization"] == "Bearer k"


def test_each_create_call_gets_its_own_key_unless_one_is_given() -> None:
    handler, seen = _scripted([httpx.Response(202, json=JOB) for _ in range(3)])
    client = _client(handler)
    client.jobs.create("chat", REQUEST)
    client.jobs.create("chat", REQUEST)
    client.jobs.create("chat", REQUEST, idempotency_key="mine", priority=9, depends_on=["job_0"])

    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert keys[0] != keys[1] and keys[2] == "mine"
    assert json.loads(seen[2].content)["priority"] == 9
    assert json.loads(seen[2].content)["depends_on"] == ["job_0"]


def test_retries_stop_after_max_retries_with_the_last_error() -> None:
    handler, seen = _scripted([_error(429, "rate_limited") for _ in range(3)])
    with pytest.raises(RateLimitError) as raised:
        _client(handler, max_retries=2).jobs.get("job_1")
    assert len(seen) == 3 and raised.value.type == "rate_limited"


def test_a_spent_budget_and_a_far_retry_after_are_raised_at_once() -> None:
    handler, seen = _scripted(
        [
            _error(429, "budget_exceeded", {"Retry-After": "3600"}),
            _error(503, "unavailable", {"Retry-After": "86400"}),
        ]
    )
    client = _client(handler)
    with pytest.raises(BudgetExceededError) as budget:
        client.jobs.create("chat", REQUEST)
    with pytest.raises(APIError) as far:
        client.jobs.get("job_1")
    assert budget.value.retry_after == 3600 and isinstance(budget.value, RateLimitError)
    assert far.value.status_code == 503 and len(seen) == 2


@pytest.mark.parametrize(
    ("status", "kind", "cls"),
    [
        (400, "invalid_json", ValidationError),
        (401, "unauthorized", AuthenticationError),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (422, "validation_error", ValidationError),
        (413, "too_large", APIError),
    ],
)
def test_error_statuses_map_to_their_classes(status: int, kind: str, cls: type[APIError]) -> None:
    handler, seen = _scripted([_error(status, kind)])
    with pytest.raises(cls) as raised:
        _client(handler).jobs.cancel("job_1")
    error = raised.value
    assert type(error) is cls and len(seen) == 1
    assert (error.status_code, error.type, error.message) == (status, kind, f"{kind}!")
    assert error.details == [{"field": "x"}]


def test_an_error_body_that_is_not_ours_still_gives_an_api_error() -> None:
    handler, _ = _scripted([httpx.Response(502, text="<html>Bad Gateway</html>")])
    with pytest.raises(APIError) as raised:
        _client(handler).jobs.get("job_1")
    assert raised.value.status_code == 502 and "Bad Gateway" in raised.value.message


def test_dropped_connections_are_retried_only_where_resending_is_safe() -> None:
    handler, seen = _scripted(
        [
            httpx.ReadError("reset"),
            httpx.Response(202, json=JOB),
            httpx.ReadError("reset"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=JOB),
        ]
    )
    client = _client(handler)
    # create carries an Idempotency-Key, so resending after a lost answer is safe
    assert client.jobs.create("chat", REQUEST).id == "job_1"
    # cancel has none: a lost answer may mean it was applied, so it is not resent
    with pytest.raises(APIConnectionError):
        client.jobs.cancel("job_1")
    # a refused connection never reached the server: always retried
    assert client.jobs.cancel("job_1").id == "job_1"
    assert len(seen) == 5


def test_ids_are_one_path_segment() -> None:
    handler, seen = _scripted([httpx.Response(200, json=JOB)])
    _client(handler).jobs.get("../../admin/tenants?x=1#")
    assert seen[0].url.raw_path == b"/v1/jobs/..%2F..%2Fadmin%2Ftenants%3Fx%3D1%23"


def test_list_follows_the_cursor_with_the_same_filters() -> None:
    pages = [
        httpx.Response(200, json={"data": [JOB, {**JOB, "id": "job_2"}], "next_cursor": "7:job_2"}),
        httpx.Response(200, json={"data": [{**JOB, "id": "job_3"}], "next_cursor": None}),
    ]
    handler, seen = _scripted(list(pages))
    ids = [j.id for j in _client(handler).jobs.list(status=["failed", "cancelled"], limit=2)]

    assert ids == ["job_1", "job_2", "job_3"]
    assert seen[0].url.params.get_list("status") == ["failed", "cancelled"]
    assert seen[1].url.params["cursor"] == "7:job_2" and seen[1].url.params["limit"] == "2"


class _Dropping(httpx.SyncByteStream):
    """An SSE body that sends ``frames`` and then breaks like a reset connection."""

    def __init__(self, frames: bytes) -> None:
        self.frames = frames

    def __iter__(self) -> Iterator[bytes]:
        yield self.frames
        raise httpx.RemoteProtocolError("peer closed connection")


def _frame(position: str, kind: str) -> bytes:
    event = {"id": position, "type": kind, "job_id": "job_1", "time": "t", "data": {}}
    return f"id: {position}\nevent: {kind}\ndata: {json.dumps(event)}\n\n".encode()


def test_events_resume_with_last_event_id_after_a_drop() -> None:
    sse = {"content-type": "text/event-stream"}
    handler, seen = _scripted(
        [
            httpx.Response(200, headers=sse, stream=_Dropping(_frame("1-0", "job.queued"))),
            httpx.Response(
                200,
                headers=sse,
                content=b": ping\n\n" + _frame("2-0", "job.started") + _frame("3-0", "job.failed"),
            ),
        ]
    )
    events = list(_client(handler).jobs.events("job_1"))

    assert [e.id for e in events] == ["1-0", "2-0", "3-0"]
    assert "Last-Event-ID" not in seen[0].headers
    assert seen[1].headers["Last-Event-ID"] == "1-0"


def test_async_client_retries_and_maps_errors_the_same_way() -> None:
    handler, seen = _scripted(
        [_error(503, "unavailable", {"Retry-After": "0"}), httpx.Response(202, json=JOB)]
        + [_error(404, "not_found")]
    )

    async def run() -> str:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncClient("http://api.test", "k", http_client=http) as client:
            job = await client.jobs.create("chat", REQUEST)
            with pytest.raises(NotFoundError):
                await client.jobs.get("job_x")
        await http.aclose()
        return job.id

    assert asyncio.run(run()) == "job_1"
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_the_callers_opentelemetry_context_is_sent_as_traceparent() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler, seen = _scripted([httpx.Response(202, json=JOB), httpx.Response(200, json=JOB)])
    client = _client(handler)
    with provider.get_tracer("test").start_as_current_span("submit order 42"):
        client.jobs.create("chat", REQUEST)
    client.jobs.get("job_1")

    [span] = exporter.get_finished_spans()
    context = span.get_span_context()
    assert context is not None
    version, trace_id, span_id, _ = seen[0].headers["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert "traceparent" not in seen[1].headers
