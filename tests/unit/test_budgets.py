"""Budget arithmetic and window ends (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

from mistral_queue.config_values import TenantLimits
from mistral_queue.jobs.budgets import Spend, day_end, exceeded, month_end


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_windows_end_at_utc_midnight_and_the_first_of_next_month() -> None:
    now = ts("2026-12-31T23:59:30")
    assert day_end(now) == ts("2027-01-01T00:00:00")
    assert month_end(now) == ts("2027-01-01T00:00:00")
    assert month_end(ts("2026-02-10T12:00:00")) == ts("2026-03-01T00:00:00")


def test_reservations_count_against_the_budget() -> None:
    limits = TenantLimits(tokens_per_day=1000)
    now = ts("2026-12-02T10:00:00")
    assert exceeded(limits, Spend(day_tokens=600, reserved_tokens=300), now) is None
    over = exceeded(limits, Spend(day_tokens=600, reserved_tokens=400), now)
    assert over is not None and over.budget == "tokens_per_day"
    assert over.retry_after(now) == 14 * 3600
    assert over.details()["resets_at"] == "2026-12-03T00:00:00Z"


def test_dollar_budget_in_nano_usd() -> None:
    limits = TenantLimits(usd_per_month=0.5)
    now = ts("2026-12-02T10:00:00")
    assert exceeded(limits, Spend(month_nano=499_999_999), now) is None
    over = exceeded(limits, Spend(month_nano=400_000_000, reserved_nano=100_000_000), now)
    assert over is not None and over.budget == "usd_per_month" and over.used == 0.5
    assert over.resets_at == ts("2027-01-01T00:00:00")
