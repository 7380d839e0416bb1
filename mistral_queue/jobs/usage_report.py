"""The read side of the usage ledger: a tenant's usage over a range of UTC days.

Sums the day hashes that jobs/usage.py books (one pipelined HGETALL per day), optionally
grouped by day or by model. Shape (``GET /v1/usage``)::

    {"from": "2026-12-01", "to": "2026-12-02",
     "tokens": {"prompt", "completion", "total"}, "cost": {"currency": "USD", "total"},
     "jobs": n, "data": [{"day" | "model": ..., "tokens": ..., "cost": ..., "jobs"?: n}]}

``jobs`` counts finished jobs; a model group has no ``jobs`` (one job may call several).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Literal

import redis.asyncio as aredis

from mistral_queue.jobs import keys
from mistral_queue.jobs.pricing import usd

GroupBy = Literal["model", "day"]

#: Days of usage kept (the day hashes' TTL, jobs/usage.py), the longest range reported.
MAX_DAYS = 400


class _Sum:
    def __init__(self) -> None:
        self.prompt = 0
        self.completion = 0
        self.nano = 0
        self.jobs = 0

    def view(self, jobs: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tokens": {
                "prompt": self.prompt,
                "completion": self.completion,
                "total": self.prompt + self.completion,
            },
            "cost": {"currency": "USD", "total": usd(self.nano)},
        }
        if jobs:
            out["jobs"] = self.jobs
        return out


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _add_day(total: _Sum, raw: dict[str, str]) -> None:
    total.prompt += _int(raw.get("prompt"))
    total.completion += _int(raw.get("completion"))
    total.nano += _int(raw.get("input_nano")) + _int(raw.get("output_nano"))
    total.jobs += _int(raw.get("jobs"))


def _add_models(models: dict[str, _Sum], raw: dict[str, str]) -> None:
    for field, value in raw.items():
        if not field.startswith("m|"):
            continue
        model, _, part = field[2:].rpartition("|")
        entry = models[model]
        if part == "prompt":
            entry.prompt += _int(value)
        elif part == "completion":
            entry.completion += _int(value)
        elif part == "nano":
            entry.nano += _int(value)


def days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def usage_report(
    client: aredis.Redis, tenant: str, first: date, last: date, group_by: GroupBy | None
) -> dict[str, Any]:
    """The tenant's usage from ``first`` to ``last`` (UTC days, both included)."""
    span = days(first, last)
    pipe = client.pipeline(transaction=False)
    for day in span:
        pipe.hgetall(keys.tenant_usage(tenant, day.isoformat()))
    replies: list[dict[str, str]] = await pipe.execute()
    total = _Sum()
    per_day: list[dict[str, Any]] = []
    models: dict[str, _Sum] = defaultdict(_Sum)
    for day, raw in zip(span, replies, strict=True):
        one = _Sum()
        _add_day(one, raw)
        _add_day(total, raw)
        _add_models(models, raw)
        per_day.append({"day": day.isoformat(), **one.view()})
    out = {"from": first.isoformat(), "to": last.isoformat(), **total.view()}
    if group_by == "day":
        out["data"] = per_day
    elif group_by == "model":
        out["data"] = [{"model": m, **models[m].view(jobs=False)} for m in sorted(models)]
    return out
