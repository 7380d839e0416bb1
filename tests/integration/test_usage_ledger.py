"""The usage ledger on a private redis-server: reserve, settle, book once, report, budgets."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from mistral_queue.config_values import ModelPrice, TenantLimits
from mistral_queue.jobs import changes, keys
from mistral_queue.jobs.budgets import exceeded, read_spend
from mistral_queue.jobs.model import JobRecord, JobType, initial_fields, new_job_id
from mistral_queue.jobs.pricing import PriceTable
from mistral_queue.jobs.store import JobStore, NewJob
from mistral_queue.jobs.usage import UsageLedger
from mistral_queue.jobs.usage_report import usage_report
from mistral_queue.tasks.metering import CallMeter

PRICES = PriceTable({"mistral-small-*": ModelPrice(input=0.1, output=0.3)})


@pytest.fixture
def tenant() -> str:
    return f"t-{secrets.token_hex(4)}"


@pytest.fixture
def store(private_redis: redis.Redis) -> JobStore:
    return JobStore(private_redis, retention=3600, idempotency_ttl=60)


@pytest.fixture
def ledger(private_redis: redis.Redis) -> UsageLedger:
    return UsageLedger(private_redis, PRICES)


def _job(store: JobStore, tenant: str) -> str:
    job_id = new_job_id()
    fields = initial_fields(
        job_id=job_id,
        tenant=tenant,
        job_type=JobType.CHAT,
        request={"model": "mistral-small-latest", "messages": []},
        metadata={},
        callback_url=None,
        deadline=time.time() + 600,
    )
    store.create(NewJob(job_id, tenant, fields, time.time() + 600))
    store.apply(job_id, tenant, changes.attempt(1, watch_until=time.time() + 60))
    return job_id


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion}


def _report(client: redis.Redis, tenant: str, group_by: Any = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        kwargs = client.connection_pool.connection_kwargs
        conn = aredis.Redis(host=kwargs["host"], port=kwargs["port"], decode_responses=True)
        try:
            today = datetime.now(UTC).date()
            return await usage_report(conn, tenant, today.replace(day=1), today, group_by)
        finally:
            await conn.aclose()

    return asyncio.run(go())


def test_reservation_settles_with_usage_and_books_once(
    store: JobStore, ledger: UsageLedger, private_redis: redis.Redis, tenant: str
) -> None:
    job_id = _job(store, tenant)
    meter = CallMeter(ledger, job_id, tenant, "mistral-small-latest")
    # Given a call that reserved 5,000 tokens
    meter.reserve(5000)
    spend = read_spend(private_redis, tenant, time.time())
    assert spend.reserved_tokens == 5000 and spend.reserved_nano == 5000 * 300
    # When it settles with its real usage, the reservation becomes that usage
    meter.settle(_usage(1200, 300))
    spend = read_spend(private_redis, tenant, time.time())
    assert (spend.reserved_tokens, spend.day_tokens) == (1500, 0)
    # And a second call of the same job adds to it
    meter.reserve(800)
    meter.settle(_usage(100, 50))
    # When the job finishes, its usage moves to the day and month, and nothing stays reserved
    store.apply(job_id, tenant, changes.succeed({"ok": True}))
    spend = read_spend(private_redis, tenant, time.time())
    assert (spend.reserved_tokens, spend.day_tokens, spend.month_tokens) == (0, 1650, 1650)
    assert spend.month_nano == 1300 * 100 + 350 * 300
    # And the job carries its cost
    raw: Any = private_redis.hgetall(keys.job(job_id))
    record = JobRecord.from_hash(raw)
    assert record.job.cost is not None
    assert record.job.cost.model_dump() == {
        "currency": "USD",
        "input": 0.00013,
        "output": 0.000105,
        "total": 0.000235,
    }
    # And booking again (a retried final change, the API's cancel racing the worker) adds nothing
    assert not store._usage.book(job_id, tenant, 3600)
    assert read_spend(private_redis, tenant, time.time()).day_tokens == 1650


def test_a_failed_call_gives_its_reservation_back(
    store: JobStore, ledger: UsageLedger, private_redis: redis.Redis, tenant: str
) -> None:
    job_id = _job(store, tenant)
    meter = CallMeter(ledger, job_id, tenant, "unpriced-model")
    meter.reserve(4000)
    meter.settle(None)
    assert read_spend(private_redis, tenant, time.time()).reserved_tokens == 0
    store.apply(job_id, tenant, changes.fail({"type": "x", "message": "y"}))
    report = _report(private_redis, tenant)
    assert report["jobs"] == 1 and report["tokens"]["total"] == 0


def test_report_sums_equal_the_jobs_usage_by_model_and_day(
    store: JobStore, ledger: UsageLedger, private_redis: redis.Redis, tenant: str
) -> None:
    calls = [("mistral-small-latest", 10, 5), ("mistral-small-2501", 7, 3), ("other-m", 100, 1)]
    for model, prompt, completion in calls:
        job_id = _job(store, tenant)
        meter = CallMeter(ledger, job_id, tenant, model)
        meter.reserve(1000)
        meter.settle(_usage(prompt, completion))
        store.apply(job_id, tenant, changes.succeed({}))
    report = _report(private_redis, tenant, "model")
    assert report["jobs"] == 3
    assert report["tokens"] == {"prompt": 117, "completion": 9, "total": 126}
    assert report["cost"]["total"] == pytest.approx((17 * 0.1 + 8 * 0.3) / 1e6)
    by_model = {g["model"]: g["tokens"]["total"] for g in report["data"]}
    assert by_model == {"mistral-small-latest": 15, "mistral-small-2501": 10, "other-m": 101}
    days = _report(private_redis, tenant, "day")["data"]
    assert sum(d["jobs"] for d in days) == 3 and days[-1]["day"] == date.today().isoformat()


def test_the_day_budget_resets_with_the_next_utc_day(
    store: JobStore, ledger: UsageLedger, private_redis: redis.Redis, tenant: str
) -> None:
    job_id = _job(store, tenant)
    meter = CallMeter(ledger, job_id, tenant, "mistral-small-latest")
    meter.reserve(10)
    meter.settle(_usage(900, 200))
    today = datetime(2026, 12, 2, 23, 0, tzinfo=UTC).timestamp()
    store._usage.book(job_id, tenant, 3600, now=today)
    limits = TenantLimits(tokens_per_day=1000, tokens_per_month=5000)
    # Past the day budget today...
    over = exceeded(limits, read_spend(private_redis, tenant, today), today)
    assert over is not None and over.budget == "tokens_per_day"
    # ...and within it an hour later, on the next UTC day (the month budget still counts it)
    tomorrow = today + 3600
    spend = read_spend(private_redis, tenant, tomorrow)
    assert exceeded(limits, spend, tomorrow) is None
    assert (spend.day_tokens, spend.month_tokens) == (0, 1100)
