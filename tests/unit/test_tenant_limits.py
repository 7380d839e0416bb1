"""MQ_TENANT_LIMITS parsing and a tenant's resolved limits (pure logic)."""

from __future__ import annotations

import pytest

from mistral_queue.config import Settings, load_settings
from mistral_queue.errors import ConfigError
from mistral_queue.jobs.limits import limits_for

LIMITS = (
    '{"*": {"tpm": 100000, "tokens_per_day": 5000, "on_budget": "wait"},'
    ' "acme": {"weight": 3, "tokens_per_day": 9000, "max_concurrency": 4}}'
)


def configured(monkeypatch: pytest.MonkeyPatch, value: str) -> Settings:
    monkeypatch.setenv("MQ_TENANT_LIMITS", value)
    return load_settings()


def test_own_entry_wins_field_by_field_over_star(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configured(monkeypatch, LIMITS)
    acme = limits_for(settings, "acme")
    assert (acme.weight, acme.tokens_per_day, acme.max_concurrency) == (3, 9000, 4)
    # Fields acme does not set come from "*"
    assert (acme.tpm, acme.on_budget) == (100000, "wait")
    other = limits_for(settings, "globex")
    assert (other.weight, other.tokens_per_day, other.max_concurrency) == (1, 5000, None)


def test_no_entry_means_no_limits() -> None:
    limits = limits_for(load_settings(), "acme")
    assert limits.weight == 1 and limits.on_budget == "reject"
    assert limits.tokens_per_day is None and limits.usd_per_month is None


def test_a_stored_override_wins_and_a_bad_one_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configured(monkeypatch, LIMITS)
    raised = limits_for(settings, "acme", {"tokens_per_day": 20000})
    assert raised.tokens_per_day == 20000 and raised.weight == 3
    # A malformed override (as a buggy admin write could leave) keeps the configured limits
    assert limits_for(settings, "acme", {"weight": -2}).weight == 3


@pytest.mark.parametrize(
    "value",
    [
        '{"acme": {"weight": 0}}',
        '{"acme": {"on_budget": "later"}}',
        '{"acme": {"tokens_per_dya": 5}}',
        '{"acme": {"rps": -1}}',
        '{"acme": 5}',
        "not json",
    ],
)
def test_bad_limits_fail_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(ConfigError, match="MQ_TENANT_LIMITS"):
        configured(monkeypatch, value)
