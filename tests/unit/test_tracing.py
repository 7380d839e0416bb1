"""``mistral_queue.tracing`` in one process: when it is on, and what context each hook uses.

The whole path across processes (API, worker, emulator, receiver) is in
``tests/integration/test_tracing.py``; these check the pieces with a local SDK provider (the
global one is never set here, so other tests keep the no-op tracer).
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mistral_queue import tracing
from mistral_queue.jobs import fields as hash_fields

STORED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def local_tracer() -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_environment_asks(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], on: bool
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.enabled() is on


def test_off_a_new_job_records_no_trace_and_nothing_is_injected() -> None:
    assert tracing.job_fields() == {}
    assert tracing.inject({"a": "b"}) == {"a": "b"}
    with tracing.publish_span("mistral_queue.chat.run", "chat", "job_1") as headers:
        assert headers == {}


def test_a_job_records_the_current_trace(
    local_tracer: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = local_tracer
    with tracer.start_as_current_span("POST /v1/jobs") as span:
        recorded = tracing.job_fields()
        headers = tracing.inject({})
    context = span.get_span_context()
    assert recorded[hash_fields.TRACE_ID] == f"{context.trace_id:032x}"
    assert recorded[hash_fields.TRACEPARENT] == headers["traceparent"]
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


def test_a_run_continues_the_stored_trace_unless_it_is_already_in_it(
    local_tracer: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = local_tracer
    # A run delivered by the sweep (another trace current): the job's own trace is the parent
    with tracer.start_as_current_span("sweep resend"), tracing.job_span("chat", "job_1", STORED):
        sent = tracing.inject({})
    assert sent["traceparent"].split("-")[1] == STORED.split("-")[1]

    # A run whose Celery span is in the job's trace stays its child
    parent = trace.propagation.tracecontext.TraceContextTextMapPropagator().extract(
        {"traceparent": STORED}
    )
    celery = tracer.start_span("run/mistral_queue.chat.run", parent)
    with trace.use_span(celery, end_on_exit=True), tracing.job_span("chat", "job_1", STORED):
        sent = tracing.inject({})
    assert sent["traceparent"].split("-")[2] == f"{celery.get_span_context().span_id:016x}"


def test_usage_and_response_id_become_gen_ai_attributes(
    local_tracer: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = local_tracer
    answer = {"id": "cmpl-1", "model": "mistral-small-2503",
              "usage": {"prompt_tokens": 7, "completion_tokens": 3}}  # fmt: skip
    with tracer.start_as_current_span("chat mistral-small-latest") as span:
        tracing.record_answer(span, answer)
        tracing.record_answer(span, "not a body")
    [finished] = exporter.get_finished_spans()
    assert dict(finished.attributes or {}) == {
        "gen_ai.response.id": "cmpl-1",
        "gen_ai.response.model": "mistral-small-2503",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
    }
