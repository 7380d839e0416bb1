"""OpenTelemetry: one trace from ``POST /v1/jobs`` through the worker to Mistral and the callback.

A stack of its own runs with the standard ``OTEL_*`` variables set; its API and worker export
OTLP/HTTP to a collector this test serves on 127.0.0.1, which decodes the protobuf requests.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from mistral_queue.dev.stack import LocalStack, launch
from tests.conftest import TEST_ENV
from tests.helpers import Api, chat_body, emulator_calls, raw_receiver, serve_http, wait_for

pytestmark = pytest.mark.timeout(120)


@dataclass
class Span:
    """One exported span, decoded."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]


@dataclass
class Collector:
    """An OTLP/HTTP traces endpoint that keeps every span it receives."""

    url: str = ""
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


@contextmanager
def collector() -> Iterator[Collector]:
    state = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers["content-length"])))
            for resource in request.resource_spans:
                attrs = {a.key: _value(a.value) for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    with state.lock:
                        state.spans.extend(_decode(attrs["service.name"], s) for s in scope.spans)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Handler) as base:
        state.url = base + "/v1/traces"
        yield state


def _decode(service: str, span: Any) -> Span:
    return Span(
        service=service,
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        kind=span.kind,
        attributes={a.key: _value(a.value) for a in span.attributes},
    )


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[LocalStack, Collector]]:
    with collector() as otlp:
        env = {
            **TEST_ENV,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        local = launch(env=env, workers=1, concurrency=4)
        try:
            yield local, otlp
        finally:
            local.stop()


def _names(spans: list[Span]) -> set[str]:
    return {s.name for s in spans}


def _spans(otlp: Collector, trace_id: str, names: set[str]) -> list[Span]:
    """The trace's spans once all of ``names`` have arrived."""

    def arrived() -> list[Span] | None:
        got = otlp.trace(trace_id)
        return got if names <= _names(got) else None

    return wait_for(arrived, 30, f"spans {sorted(names)} of trace {trace_id}")


def test_one_trace_from_the_post_to_mistral_and_the_callback(
    traced: tuple[LocalStack, Collector],
) -> None:
    stack, otlp = traced
    api = Api(stack.api.url, "key-acme")
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with raw_receiver() as receiver:
        # Given a POST carrying the caller's W3C traceparent
        response = api.post(
            chat_body("trace me", receiver.url), traceparent=f"00-{trace_id}-{parent}-01"
        )
        assert response.status_code == 202, response.text
        job = response.json()
        final = api.wait_final(job["id"], timeout=60)
        [callback] = wait_for(lambda: receiver.for_job(job["id"]), 30, "the callback")

    expected = {"POST /v1/jobs", "send mistral_queue.chat.run", "run/mistral_queue.chat.run",
                "queue wait", "job chat", "chat mistral-small-latest", "rate limit wait",
                "callback POST"}  # fmt: skip
    spans = _spans(otlp, trace_id, expected)

    # Then the job records the trace, and the upstream request and the callback carry it
    assert job["trace_id"] == trace_id and final["trace_id"] == trace_id
    [upstream] = emulator_calls(stack.emulator.url, job["id"])
    assert upstream["traceparent"].split("-")[1] == trace_id
    assert callback.headers["traceparent"].split("-")[1] == trace_id

    by_name = {s.name: s for s in spans}
    intake = by_name["POST /v1/jobs"]
    assert intake.service == "mistral-queue-api" and intake.parent_id == parent
    assert by_name["send mistral_queue.chat.run"].service == "mistral-queue-api"
    run = by_name["job chat"]
    assert run.service == "mistral-queue-worker" and run.attributes["mq.job_id"] == job["id"]
    # The Celery span came from the message headers, and the run is its child
    assert run.parent_id == by_name["run/mistral_queue.chat.run"].span_id
    assert (
        by_name["run/mistral_queue.chat.run"].parent_id
        == by_name["send mistral_queue.chat.run"].span_id
    )

    # The upstream attempt: a child of the run, with GenAI attributes and the traceparent sent
    attempt = by_name["chat mistral-small-latest"]
    result = final["result"]
    assert attempt.parent_id == run.span_id
    assert attempt.attributes["gen_ai.system"] == "mistral_ai"
    assert attempt.attributes["gen_ai.request.model"] == "mistral-small-latest"
    assert attempt.attributes["gen_ai.response.id"] == result["id"]
    assert attempt.attributes["gen_ai.usage.input_tokens"] == result["usage"]["prompt_tokens"]
    assert attempt.attributes["gen_ai.usage.output_tokens"] == result["usage"]["completion_tokens"]
    assert upstream["traceparent"].split("-")[2] == attempt.span_id

    delivery = by_name["callback POST"]
    assert delivery.attributes["http.response.status_code"] == 200
    assert callback.headers["traceparent"].split("-")[2] == delivery.span_id


def test_a_post_without_traceparent_starts_a_new_trace(
    traced: tuple[LocalStack, Collector],
) -> None:
    stack, otlp = traced
    api = Api(stack.api.url, "key-acme")
    job = api.submit(chat_body("no parent"))
    final = api.wait_final(job["id"], timeout=60, callback=False)

    trace_id = final["trace_id"]
    assert trace_id and len(trace_id) == 32 and trace_id == job["trace_id"]
    spans = _spans(otlp, trace_id, {"POST /v1/jobs", "job chat"})
    assert not [s for s in spans if s.name == "POST /v1/jobs" and s.parent_id]

    # Health checks are not traced (the exporter flushes every 100 ms)
    assert httpx.get(f"{stack.api.url}/healthz").status_code == 200
    time.sleep(1.0)
    assert not [s for s in otlp.spans if "healthz" in s.name]
