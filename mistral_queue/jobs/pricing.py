"""Prices of tokens and the cost of a job (``MQ_MODEL_PRICES``, DESIGN § v2 cost).

Prices are USD per 1M tokens, separately for input (prompt) and output (completion) tokens,
as Mistral publishes them. Costs are kept as integer nano-USD (1e-9 USD) in Redis so sums
over many jobs stay exact; one token at a price of ``p`` USD/1M costs ``p * 1000`` nano-USD.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from mistral_queue.config_values import ModelPrice

#: Nano-USD in one USD.
NANO = 1_000_000_000
#: Model label of every model that matches no price pattern (keeps metric labels bounded).
OTHER = "other"


@dataclass(frozen=True)
class Cost:
    """What some tokens cost, nano-USD."""

    input: int
    output: int

    @property
    def total(self) -> int:
        return self.input + self.output


def usd(nano: int) -> float:
    """Nano-USD as USD, rounded to the nano-dollar."""
    return round(nano / NANO, 9)


def cost_view(input_nano: int, output_nano: int) -> dict[str, object]:
    """A job's public ``cost``: ``{"currency": "USD", "input", "output", "total"}`` in USD."""
    return {
        "currency": "USD",
        "input": usd(input_nano),
        "output": usd(output_nano),
        "total": usd(input_nano + output_nano),
    }


class PriceTable:
    """The configured prices; the first pattern (in configuration order) matching wins."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self.prices = dict(prices)

    def match(self, model: str) -> tuple[str, ModelPrice] | None:
        """The ``(pattern, price)`` for ``model``, or None when no pattern matches."""
        for pattern, price in self.prices.items():
            if fnmatch.fnmatchcase(model, pattern):
                return pattern, price
        return None

    def label(self, model: str) -> str:
        """A bounded metric label for ``model``: its price pattern, else ``other``."""
        found = self.match(model)
        return found[0] if found else OTHER

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> Cost:
        """What a call to ``model`` using these tokens costs; 0 for a model with no price."""
        found = self.match(model)
        if found is None:
            return Cost(0, 0)
        price = found[1]
        return Cost(
            round(max(0, prompt_tokens) * price.input * 1000),
            round(max(0, completion_tokens) * price.output * 1000),
        )

    def estimate(self, model: str, tokens: int) -> int:
        """An upper bound of what ``tokens`` cost on ``model`` (the dearer price), nano-USD."""
        found = self.match(model)
        if found is None:
            return 0
        return round(max(0, tokens) * max(found[1].input, found[1].output) * 1000)
