"""Cost arithmetic of MQ_MODEL_PRICES (pure logic)."""

from __future__ import annotations

import pytest

from mistral_queue.config import load_settings
from mistral_queue.config_values import ModelPrice
from mistral_queue.errors import ConfigError
from mistral_queue.jobs.pricing import OTHER, PriceTable, cost_view, usd

PRICES = {
    "mistral-large-*": ModelPrice(input=2.0, output=6.0),
    "mistral-*": ModelPrice(input=0.1, output=0.3),
}


def test_cost_is_tokens_times_price_per_million() -> None:
    table = PriceTable(PRICES)
    # Given 1,234 prompt and 567 completion tokens on mistral-small at 0.1 / 0.3 USD per 1M
    cost = table.cost("mistral-small-latest", 1234, 567)
    # Then input = 1234 * 0.1 / 1e6 USD, output = 567 * 0.3 / 1e6 USD, in nano-USD exactly
    assert cost.input == 123_400
    assert cost.output == 170_100
    assert cost_view(cost.input, cost.output) == {
        "currency": "USD",
        "input": 0.0001234,
        "output": 0.0001701,
        "total": 0.0002935,
    }


def test_first_matching_pattern_wins_and_labels_are_bounded() -> None:
    table = PriceTable(PRICES)
    assert table.cost("mistral-large-2411", 1_000_000, 1_000_000).total == 8 * 10**9
    assert table.label("mistral-large-2411") == "mistral-large-*"
    assert table.label("mistral-tiny") == "mistral-*"
    # An unpriced model costs nothing and is labelled "other", whatever its name
    assert table.cost("codestral-2501", 10, 10).total == 0
    assert table.label("anything-a-client-invents") == OTHER


def test_estimate_uses_the_dearer_price() -> None:
    table = PriceTable(PRICES)
    assert table.estimate("mistral-large-1", 1000) == 1000 * 6000
    assert table.estimate("unpriced", 1000) == 0


def test_sums_of_many_small_costs_stay_exact() -> None:
    table = PriceTable(PRICES)
    total = sum(table.cost("mistral-small", 7, 3).total for _ in range(100_000))
    assert usd(total) == pytest.approx(100_000 * (7 * 0.1 + 3 * 0.3) / 1e6, abs=1e-12)


def test_prices_are_validated_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQ_MODEL_PRICES", '{"mistral-*": {"input": 0.1, "output": 0.3}}')
    assert load_settings().model_prices["mistral-*"].output == 0.3
    for bad in ('{"mistral-*": {"input": -1, "output": 0.3}}', '{"m": {"input": 1, "outptu": 3}}'):
        monkeypatch.setenv("MQ_MODEL_PRICES", bad)
        with pytest.raises(ConfigError, match="MQ_MODEL_PRICES"):
            load_settings()
