"""Deployment-wide Prometheus metrics, kept in Redis and exported by the API at ``/metrics``.

Every process (API, any worker on any machine) adds to one Redis hash: job counters and
latency histograms inside the atomic job-change scripts (no extra round trip), upstream calls
and tokens from the workers. One scrape of any API process therefore sees the whole
deployment; workers need no metrics port. Hash fields are ``<metric>|<label>=<value>,…``;
histogram buckets are stored per bucket and made cumulative when exported.

No tenant can corrupt the scrape: the one label a tenant influences, ``model``, is a
configured model or pattern (``MQ_METRICS_MODELS``, ``MQ_RATE_LIMITS``) or ``other``; label
values are escaped by ``prometheus_client`` on export; and export keeps only the label names
each metric is known to have and at most ``MAX_SERIES`` series per metric, so stray fields
(from an older release, say) can neither break the format nor mint series.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from mistral_queue.jobs import keys

#: Models (or glob patterns) that get their own ``model`` label in the metrics; others are
#: ``other``, so no tenant can mint series (Mistral's public model aliases).
DEFAULT_METRICS_MODELS = (
    "mistral-small-latest", "mistral-medium-latest", "mistral-large-latest",
    "magistral-small-latest", "magistral-medium-latest", "ministral-3b-latest",
    "ministral-8b-latest", "codestral-latest", "devstral-small-latest", "devstral-medium-latest",
    "pixtral-large-latest", "open-mistral-nemo", "mistral-embed", "mistral-ocr-latest",
)  # fmt: skip

#: Counters: name → help text.
COUNTERS = {
    "mq_jobs_accepted_total": "Jobs accepted by the intake API, by type.",
    "mq_jobs_finished_total": "Jobs that reached a final status, by type and status.",
    "mq_events_total": "Job events appended, by event type (job.retrying counts retries, "
    "job.throttled limiter and tenant-cap waits, callback.* callback attempts).",
    "mq_upstream_calls_total": "Calls to the Mistral API, by model and status code.",
    "mq_tokens_total": "Tokens Mistral reported in usage, by model and kind.",
    "mq_tenant_tokens_total": "Tokens used by tenant, kind and model (the model's price "
    "pattern in MQ_MODEL_PRICES, else other).",
    "mq_cost_usd_total": "USD spent by tenant and model (the price pattern), MQ_MODEL_PRICES.",
}

#: The label names each metric may have; a stored field with others is not exported.
LABELS = {
    "mq_jobs_accepted_total": {"type"},
    "mq_jobs_finished_total": {"type", "status"},
    "mq_events_total": {"type"},
    "mq_upstream_calls_total": {"model", "status"},
    "mq_tokens_total": {"model", "kind"},
    "mq_job_queue_wait_seconds": {"type", "le"},
    "mq_job_run_seconds": {"type", "status", "le"},
    "mq_callback_delay_seconds": {"type", "le"},
}

#: Most series one metric exports (a backstop: the labels are bounded already).
MAX_SERIES = 1000

#: What a label value written by us looks like; anything else becomes ``other``.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._:*?\[\]-]{1,100}")

#: Histograms (seconds): name → help text.
HISTOGRAMS = {
    "mq_job_queue_wait_seconds": "Time from acceptance to the first start, by type.",
    "mq_job_run_seconds": "Time from the first start to the final status, by type and status.",
    "mq_callback_delay_seconds": "Time from the final status to the delivered callback.",
}


def model_label(model: str, known: Iterable[str]) -> str:
    """The ``model`` label of a call: a configured model or glob pattern, else ``other``.

    ``known`` is ``MQ_METRICS_MODELS`` then the ``MQ_RATE_LIMITS`` patterns; the first entry
    equal to ``model``, or a pattern matching it, is the label (so ``mistral-large-*`` labels
    every model it matches). An agent call (``agent:<id>``) is ``agent``: agent ids are chosen
    by tenants.

    Examples: ``model_label("mistral-small-latest", ["mistral-small-latest"])`` is the model;
    ``model_label('x",evil="1', [...])`` is ``"other"``.
    """
    if model.startswith("agent:"):
        return "agent"
    for entry in known:
        if _SAFE_VALUE.fullmatch(entry) and (entry == model or fnmatch.fnmatchcase(model, entry)):
            return entry
    return "other"


def _split(field: str) -> tuple[str, dict[str, str]] | None:
    """``(metric, labels)`` of a hash field, or None when it is not one we write."""
    name, _, raw = field.partition("|")
    base = name if name in LABELS else name.rsplit("_", 1)[0]
    allowed = LABELS.get(base)
    if allowed is None:
        return None
    labels: dict[str, str] = {}
    for part in raw.split(",") if raw else []:
        key, sep, value = part.partition("=")
        if not sep or key not in allowed or key in labels:
            return None
        labels[key] = value
    return name, labels


def record_upstream_call(
    client: redis.Redis, model: str, status: int | str, usage: Mapping[str, Any] | None
) -> None:
    """Count one upstream call and the tokens it used (one pipelined round trip).

    Args:
        model: the model (or ``agent:<id>``) called.
        status: the HTTP status, or ``connection`` / ``timeout`` when none came back.
        usage: Mistral's ``usage`` object of a successful call.
    """
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(keys.METRICS, f"mq_upstream_calls_total|model={model},status={status}", 1)
    for kind in ("prompt_tokens", "completion_tokens"):
        count = (usage or {}).get(kind)
        if isinstance(count, int) and count > 0:
            label = kind.removesuffix("_tokens")
            pipe.hincrby(keys.METRICS, f"mq_tokens_total|kind={label},model={model}", count)
    pipe.execute()


class Snapshot(Collector):
    """A collector over one read of the metrics hash plus queue depths."""

    def __init__(self, values: Mapping[str, str], queue_depths: Mapping[str, int]) -> None:
        self.values = values
        self.queue_depths = queue_depths

    def collect(self) -> Iterator[Any]:
        yield from self._counters()
        yield from self._histograms()
        depth = GaugeMetricFamily(
            "mq_queue_depth", "Messages waiting in each queue.", labels=["queue"]
        )
        for queue, length in sorted(self.queue_depths.items()):
            depth.add_metric([queue], length)
        yield depth

    def _counters(self) -> Iterator[CounterMetricFamily]:
        samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for field, value in self.values.items():
            split = _split(field)
            if split is not None and split[0] in COUNTERS and len(samples[split[0]]) < MAX_SERIES:
                samples[split[0]].append((split[1], float(value)))
        for name, help_text in COUNTERS.items():
            label_names = sorted({k for labels, _ in samples[name] for k in labels})
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=label_names)
            for labels, amount in samples[name]:
                family.add_metric([labels.get(k, "") for k in label_names], amount)
            yield family

    def _histograms(self) -> Iterator[HistogramMetricFamily]:
        series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        for field, value in self.values.items():
            split = _split(field)
            if split is None:
                continue
            name, labels = split
            base = name.rsplit("_", 1)[0]
            if base not in HISTOGRAMS:
                continue
            bound = labels.pop("le", None)
            key = (base, tuple(sorted(labels.items())))
            if key not in series and len(series) >= MAX_SERIES * len(HISTOGRAMS):
                continue
            entry = series.setdefault(key, {"buckets": {}})
            if name.endswith("_bucket") and bound is not None:
                try:
                    entry["buckets"][float(bound)] = int(value)
                except ValueError:
                    continue
            elif name.endswith("_sum"):
                entry["sum"] = float(value)
        for name, help_text in HISTOGRAMS.items():
            mine = [(pairs, e) for (base, pairs), e in series.items() if base == name]
            label_names = sorted({k for pairs, _ in mine for k, _ in pairs})
            family = HistogramMetricFamily(name, help_text, labels=label_names)
            for pairs, entry in mine:
                found = dict(pairs)
                family.add_metric(
                    [found.get(k, "") for k in label_names],
                    _cumulative(entry["buckets"]),
                    entry.get("sum", 0.0),
                )
            yield family


def _cumulative(buckets: Mapping[float, int]) -> list[tuple[str, float]]:
    total = 0
    out: list[tuple[str, float]] = []
    for bound in sorted(b for b in buckets if not math.isinf(b)):
        total += buckets[bound]
        out.append((repr(bound), total))
    out.append(("+Inf", total + buckets.get(math.inf, 0)))
    return out


def registry_for(values: Mapping[str, str], queue_depths: Mapping[str, int]) -> CollectorRegistry:
    """A registry holding one snapshot, ready for ``generate_latest``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(values, queue_depths))
    return registry
