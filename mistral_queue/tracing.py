"""OpenTelemetry traces: one trace from ``POST /v1/jobs`` to the upstream calls and callbacks.

Off unless configured with the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp`` or
``console``; ``none`` turns it off) or an ``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT``. The SDK
reads the rest itself (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, OTLP headers). Off, every helper here is a no-op
on the API's non-recording tracer.

The W3C ``traceparent`` of the POST (or of a new trace) is stored on the job (``trace_id``,
and the hidden ``traceparent`` field), travels in the Celery message headers, and is sent
on each upstream request and each callback. Span names and attributes follow the GenAI
semantic conventions (``gen_ai.*``) for upstream attempts and the messaging ones for publish.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from mistral_queue.jobs import fields as hash_fields

#: Header carrying the publish time (ns since the epoch) to measure the queue wait.
PUBLISHED_HEADER = "mq_published_ns"

_tracer = trace.get_tracer("mistral_queue")
_configured_service: str | None = None


def enabled() -> bool:
    """Whether the ``OTEL_*`` environment asks for traces."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure(service: str) -> bool:
    """Install the SDK's tracer provider with the configured exporter(s), once per process.

    Args:
        service: the default ``service.name`` (``OTEL_SERVICE_NAME`` wins).

    Returns:
        Whether tracing is on.
    """
    global _configured_service
    if _configured_service is not None or not enabled():
        return _configured_service is not None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")
    for name in (n.strip() for n in names):
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured_service = service
    return True


def instrument_api(app: Any) -> None:
    """Trace the intake API's requests (FastAPI instrumentation), when tracing is on."""
    if not configure("mistral-queue-api"):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def instrument_worker() -> None:
    """Trace Celery task runs and sends in a worker (Celery instrumentation), when on."""
    if not configure("mistral-queue-worker"):
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def job_fields() -> dict[str, str]:
    """Hash fields recording the current trace on a new job: ``trace_id`` and ``traceparent``."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    fields = {hash_fields.TRACE_ID: format(span_context.trace_id, "032x")}
    if "traceparent" in carrier:
        fields[hash_fields.TRACEPARENT] = carrier["traceparent"]
    return fields


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current ``traceparent`` (and ``tracestate``) to ``headers``; returns them."""
    propagate.inject(headers)
    return headers


@contextmanager
def publish_span(task_name: str, queue: str, job_id: str) -> Iterator[dict[str, str]]:
    """A PRODUCER span around one publish; yields the message headers to send with it."""
    attributes = {"messaging.system": "celery", "messaging.destination.name": queue,
                  "messaging.operation.type": "send", "mq.job_id": job_id}  # fmt: skip
    with _tracer.start_as_current_span(
        f"send {task_name}", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        headers = inject({}) if span.is_recording() else {}
        if headers:
            headers[PUBLISHED_HEADER] = str(time.time_ns())
        yield headers


def _parent(traceparent: str | None) -> context.Context | None:
    """The context to run a job's spans in: the current one when it is already in the job's
    trace (the Celery span), else the job's stored trace, else the current one."""
    if not traceparent:
        return None
    stored = propagate.extract({"traceparent": traceparent})
    current = trace.get_current_span().get_span_context()
    if current.trace_id == trace.get_current_span(stored).get_span_context().trace_id:
        return None
    return stored


@contextmanager
def job_span(
    job_type: str, job_id: str, traceparent: str | None, message: Any = None
) -> Iterator[Span]:
    """The span of one run of one job, after a span for its wait in the queue.

    Args:
        job_type: ``chat``, ``agent`` or ``batch``.
        job_id: the job.
        traceparent: the job's stored ``traceparent`` (its POST's trace), if any.
        message: the Celery ``task.request``, whose headers may carry the publish time.
    """
    parent = _parent(traceparent)
    attributes = {"mq.job_id": job_id, "mq.job_type": job_type}
    published = getattr(message, PUBLISHED_HEADER, None)
    if published:
        wait = _tracer.start_span("queue wait", parent, attributes=attributes,
                                  start_time=int(published))  # fmt: skip
        wait.end()
    with _tracer.start_as_current_span(f"job {job_type}", parent, attributes=attributes) as span:
        yield span


def _usage_attributes(answer: Any) -> dict[str, Any]:
    body = getattr(answer, "json", answer)
    if not isinstance(body, Mapping):
        return {}
    raw = body.get("usage")
    usage: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    found = {
        "gen_ai.response.id": body.get("id"),
        "gen_ai.response.model": body.get("model"),
        "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
    }
    return {k: v for k, v in found.items() if v is not None}


@contextmanager
def upstream_span(body: Mapping[str, Any], attempt: int) -> Iterator[Span]:
    """A CLIENT span for one upstream attempt (GenAI conventions); the answer's id and token
    usage are added by ``record_answer``. Errors are recorded with their type."""
    model = body.get("model")
    operation = "chat" if model else "invoke_agent"
    attributes: dict[str, Any] = {"gen_ai.system": "mistral_ai", "gen_ai.operation.name": operation,
                                  "mq.attempt": attempt}  # fmt: skip
    if model:
        attributes["gen_ai.request.model"] = model
    if body.get("agent_id"):
        attributes["gen_ai.agent.id"] = body["agent_id"]
    name = f"{operation} {model or body.get('agent_id') or ''}".strip()
    with _tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            raise


def record_answer(span: Span, answer: Any) -> None:
    """Add an upstream answer's ``gen_ai.response.id`` and ``gen_ai.usage.*`` to ``span``."""
    if span.is_recording():
        span.set_attributes(_usage_attributes(answer))


@contextmanager
def limiter_span(model: str) -> Iterator[Span]:
    """A span for the wait for a slot of the deployment-wide rate limit."""
    with _tracer.start_as_current_span("rate limit wait", attributes={"mq.model": model}) as span:
        yield span


@contextmanager
def callback_span(url: str, webhook_id: str, attempt: int, traceparent: str | None
                  ) -> Iterator[Span]:  # fmt: skip
    """A CLIENT span for one callback attempt, in the job's trace."""
    attributes: dict[str, Any] = {"url.full": url, "http.request.method": "POST",
                  "mq.webhook_id": webhook_id, "mq.attempt": attempt}  # fmt: skip
    with _tracer.start_as_current_span(
        "callback POST", _parent(traceparent), kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_delivery(span: Span, status_code: int | None, error: str | None) -> None:
    """Add a callback attempt's outcome to its span (non-2xx and errors mark it failed)."""
    if status_code is not None:
        span.set_attribute("http.response.status_code", status_code)
    if error is not None or status_code is None or status_code >= 300:
        span.set_status(Status(StatusCode.ERROR, error or f"HTTP {status_code}"))
